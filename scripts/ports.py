"""Port checks for the shell scripts (stdlib only: it runs before anything is installed).

python3 scripts/ports.py answers URL   exit 0 if something accepts TCP at URL's host:port
python3 scripts/ports.py local-port URL
                                       nothing if something answers at URL; its port if
                                       not and it is on this machine (start a private
                                       node there); else fail saying so
python3 scripts/ports.py spare         print a free port P with P + 20000 free too (a
                                       private RabbitMQ node's distribution port)
"""

import socket
import sys
from urllib.parse import urlsplit

DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671, "postgresql": 5432, "postgres": 5432}


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or DEFAULT_PORTS[parts.scheme.split("+")[0]]


def answers(url: str) -> bool:
    try:
        socket.create_connection(_address(url), timeout=2).close()
    except OSError:
        return False
    return True


def local_port(url: str) -> str:
    if answers(url):
        return ""
    host, port = _address(url)
    if host not in ("localhost", "127.0.0.1", "::1"):
        sys.exit(f"Nothing answers at {host}:{port}; start it, or point the URL elsewhere.")
    return str(port)


def is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def spare() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 20000 < 65536 and is_free(port + 20000):
            return port


if __name__ == "__main__":
    if sys.argv[1:2] == ["answers"] and len(sys.argv) == 3:
        sys.exit(0 if answers(sys.argv[2]) else 1)
    if sys.argv[1:2] == ["local-port"] and len(sys.argv) == 3:
        sys.stdout.write(local_port(sys.argv[2]) + "\n")
        sys.exit(0)
    if sys.argv[1:] == ["spare"]:
        sys.stdout.write(f"{spare()}\n")
        sys.exit(0)
    sys.exit(__doc__)
