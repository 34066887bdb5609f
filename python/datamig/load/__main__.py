"""`python -m datamig.load load|rollback|recover ...`: the loader as a process of its own.

Used where a load must be killable from outside (the fault tests kill -9 it at random
moments) and by operators without the full CLI. Connection settings come from the
environment (and .datamig/services.env); the result is printed as JSON, an error as one line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import load_config
from ..errors import DatamigError
from ..services.envfile import load_env, redact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datamig.load")
    parser.add_argument("--config", type=Path, default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("load")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--strategy", default="auto")
    p.add_argument("--dry-run", action="store_true")
    p = sub.add_parser("rollback")
    p.add_argument("run_id")
    p.add_argument("--out-dir", type=Path, default=None)
    p = sub.add_parser("recover")
    p.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    env = load_env()
    # Imports are done: from here on the process is doing the work (fault tests time kills from this line).
    print("datamig.load: started", file=sys.stderr, flush=True)
    try:
        from . import load_run, recover, rollback_run

        cfg = load_config(args.config)
        if args.command == "load":
            result = load_run(cfg, env, args.run_dir, strategy=args.strategy, dry_run=args.dry_run,
                              progress=lambda m: print(m, file=sys.stderr, flush=True))
        elif args.command == "rollback":
            result = rollback_run(cfg, env, args.out_dir or cfg.out_dir, args.run_id)
        else:
            result = recover(cfg, env, args.out_dir or cfg.out_dir)
    except DatamigError as exc:
        print(f"error: {redact(str(exc), env)}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
