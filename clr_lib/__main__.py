"""Command line for long runs.

    python -m clr_lib pretrain --method simclr --encoder small_cnn --profile book --out runs/NAME
    python -m clr_lib evaluate runs/NAME
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parser() -> argparse.ArgumentParser:
    from clr_lib.config import PROFILES
    from clr_lib.models import ENCODERS
    from clr_lib.runs import METHODS

    cli = argparse.ArgumentParser(prog="python -m clr_lib", description=__doc__.strip().splitlines()[0])
    commands = cli.add_subparsers(dest="command", required=True)
    train = commands.add_parser("pretrain", help="pretrain a method on CIFAR-10 and record the run")
    train.add_argument("--method", required=True, choices=sorted(METHODS))
    train.add_argument("--encoder", choices=sorted(ENCODERS), help="default: the profile's encoder")
    train.add_argument("--profile", type=str.lower, choices=list(PROFILES),
                       help="default: $CLR_PROFILE, else book (full on a GPU); any case")
    train.add_argument("--out", required=True, help="the run folder, e.g. runs/simclr-book")
    train.add_argument("--epochs", type=int, help="override the profile's epochs")
    train.add_argument("--batch-size", type=int, help="override the profile's batch size")
    train.add_argument("--seed", type=int, default=0)
    existing = train.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true",
                          help="continue the interrupted run in --out (same settings as it started with)")
    existing.add_argument("--replace", action="store_true",
                          help="delete the run in --out (its own files only) and start over")
    check = commands.add_parser("evaluate", help="print kNN and linear-probe accuracy of a finished run")
    check.add_argument("run", help="a run folder written by pretrain")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from clr_lib import config, runs

    try:
        if args.command == "pretrain":
            profile = config.get_profile(args.profile)
            overrides = {"epochs": args.epochs, "batch_size": args.batch_size}
            profile = profile.replace(**{k: v for k, v in overrides.items() if v is not None})
            if profile.epochs < 1 or profile.batch_size < 2:
                raise ValueError("--epochs must be >= 1 and --batch-size >= 2.")
            mode = "resume" if args.resume else "replace" if args.replace else "new"
            metrics = runs.pretrain(args.method, profile, args.out, args.encoder, mode=mode, seed=args.seed)
            knn = metrics["epochs"]["val_knn_acc"][-1]
            print(f"{args.method} ({metrics['encoder']}, profile {profile.name}): kNN top-1 {knn:.4f}; run in {args.out}")
        else:
            result = runs.evaluate(args.run)
            print(f"{args.run}: kNN top-1 {result['knn_top1']:.4f}, linear probe top-1 "
                  f"{result['linear_probe_top1']:.4f} ({result['test_images']} test images)")
    except (ValueError, OSError) as error:  # FileNotFoundError, FileExistsError, an unwritable folder...
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
