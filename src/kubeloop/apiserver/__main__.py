"""``python -m kubeloop.apiserver [--data DIR] [--port N]``: run the embedded API server until Ctrl-C
(or until it fails: exit 1 with the reason)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from kubeloop.apiserver.server import EmbeddedServer


async def _serve(data: Path | None, port: int | None) -> None:
    async with EmbeddedServer(data, port=port) as server:
        print(f"kubeloop apiserver serving on {server.url}")
        print(f"export KUBECONFIG={server.kubeconfig}", flush=True)
        await server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m kubeloop.apiserver")
    parser.add_argument("--data", type=Path, default=None, help="data directory (default: in memory)")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args.data, args.port))
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # the server stopped by itself: one line with the reason, exit 1
        sys.exit(f"kubeloop apiserver: exiting: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
