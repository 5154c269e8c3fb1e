"""``python -m appservice_operator``: run the operator against the current kubeconfig."""

from __future__ import annotations

import asyncio
import logging

from appservice_operator.controller import operator


def main() -> None:
    """Run until SIGTERM or Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(operator.run())


if __name__ == "__main__":
    main()
