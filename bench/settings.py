"""The service's settings as the bench runs it: its defaults, plus only what the bench sets."""

from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from shared.settings import Settings


class _DefaultsOnly(Settings):
    """Neither the environment nor a `.env` file is read, so a developer's shell (a
    WORKER_CONCURRENCY, say) cannot change what is measured."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def default_settings(**overrides: Any) -> Settings:
    return _DefaultsOnly(**overrides)
