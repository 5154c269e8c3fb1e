"""``python -m kubeloop.apiserver [--data DIR] [--port N]``: run the embedded API server until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from kubeloop.apiserver.server import EmbeddedServer


async def _serve(data: Path | None, port: int | None) -> None:
    async with EmbeddedServer(data, port=port) as server:
        print(f"kubeloop apiserver serving on {server.url}")
        print(f"export KUBECONFIG={server.kubeconfig}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m kubeloop.apiserver")
    parser.add_argument("--data", type=Path, default=None, help="data directory (default: in memory)")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.data, args.port))


if __name__ == "__main__":
    main()
