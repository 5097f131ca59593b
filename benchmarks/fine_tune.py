"""Few labels: fine-tune an encoder that budget.py pretrained, next to a linear probe and training from scratch.

    python benchmarks/budget.py --tag simclr-20min-seed2 ... --save-encoder simclr-20min-seed2.keras
    python benchmarks/fine_tune.py --encoder simclr-20min-seed2.keras --pretrained simclr-20min-seed2

With 1% and 10% of CIFAR-10's training labels (a class-balanced subset per seed), measures
test top-1 on the 10,000 test images (``clr_lib.few_labels.compare``): a linear probe on the
frozen encoder; the encoder fine-tuned with a new linear layer; fine-tuned with the linear layer
started from the probe (LP-FT); and the same network trained from scratch, each trained network
for the same number of steps on crops and flips. The result,
with every setting and the machine, goes into ``--results`` under ``--tag`` (default: the
``--pretrained`` tag), which chapter 9 reads.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from budget import RESULTS as BUDGET_RESULTS  # noqa: E402
from budget import read_results, store  # noqa: E402
from clr_lib import augment, config, data, few_labels, runs  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "fine_tune.json"


def numbers(kind):
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None
    return parse


def arguments(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    cli.add_argument("--encoder", type=Path, required=True, help="the .keras file budget.py --save-encoder wrote")
    cli.add_argument("--pretrained", required=True, help="the tag of its pretraining run in --budget-results")
    cli.add_argument("--budget-results", type=Path, default=BUDGET_RESULTS)
    cli.add_argument("--fractions", type=numbers(float), default=(0.01, 0.1), help="fractions of the labels")
    cli.add_argument("--seeds", type=numbers(int), default=(0, 1, 2), help="one labelled subset and run per seed")
    cli.add_argument("--steps", type=int, default=600, help="optimiser steps of every trained network")
    cli.add_argument("--batch-size", type=int, default=64)
    cli.add_argument("--lr", type=float, default=2e-3, help="peak learning rate from scratch (AdamW)")
    cli.add_argument("--fine-tune-lr", type=numbers(float), default=(2e-3, 2e-4),
                     help="peak learning rates of fine-tuning with a new linear layer, one run each")
    cli.add_argument("--from-probe-lr", type=numbers(float), default=(2e-4,),
                     help="peak learning rates of fine-tuning from the fitted probe (LP-FT), one run each")
    cli.add_argument("--crop-min", type=float, default=0.35, help="smallest crop area fraction")
    cli.add_argument("--tag", help="name of this study in the results file (default: --pretrained)")
    cli.add_argument("--results", type=Path, default=RESULTS)
    args = cli.parse_args(argv)
    if not args.encoder.is_file():
        cli.error(f"--encoder {args.encoder} is not a file: pretrain one with budget.py --save-encoder FILE.keras.")
    try:
        read_results(args.results)
        pretrained = read_results(args.budget_results)
    except ValueError as error:
        cli.error(str(error))
    if args.pretrained not in pretrained:
        cli.error(f"--pretrained {args.pretrained!r} is not a run in {args.budget_results} (it has "
                  f"{', '.join(pretrained) or 'none'}): name the budget.py run that saved --encoder.")
    if min(args.steps, args.batch_size) < 1 or not all(0 < f <= 1 for f in args.fractions) or len(args.seeds) < 2:
        cli.error("--steps and --batch-size must be >= 1, --fractions in (0, 1], and --seeds at least 2 "
                  "(the spread between seeds is the noise every comparison needs).")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = arguments(argv)
    start = time.perf_counter()
    encoder = keras.models.load_model(args.encoder)
    train, test = data.load_cifar10()
    profile = config.PROFILES["book"].replace(learning_rate=args.lr)
    crop_flip = augment.simclr_variant("crop", crop_scale=(args.crop_min, 1.0), image_size=32, seed=0)
    measured = few_labels.compare(encoder, train, test, profile, crop_flip, args.fractions, args.seeds,
                                  args.steps, args.batch_size, args.fine_tune_lr, args.from_probe_lr)
    result = {
        "pretrained": args.pretrained,
        "pretrained_settings": read_results(args.budget_results)[args.pretrained]["settings"],
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                     if k not in ("encoder", "budget_results", "results")},
        "encoder_file": args.encoder.name, "precision": profile.precision, "test_images": int(len(test[1])),
        "fractions": measured, "wall_seconds": time.perf_counter() - start, "environment": runs.environment(),
    }
    tag = args.tag or args.pretrained
    store(args.results, tag, result)
    for fraction, row in measured.items():
        scores = " ".join(f"{name.replace(' ', '_')}={sum(v) / len(v):.4f}" for name, v in row.items()
                          if isinstance(v, list))
        print(f"{tag}: {float(fraction):.0%} labels ({row['labels']}, {row['steps']} steps): {scores}", flush=True)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
