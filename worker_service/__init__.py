"""The asyncio consumer that resizes images with libvips."""
