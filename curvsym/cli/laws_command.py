"""``curvsym laws``: the conservation laws of a rule, their count, the certificate and the verdict.

    curvsym laws gd --widths 2,3,2
    curvsym laws kfac --widths 2,2,2,2 --degree 2
    curvsym laws gd --widths 2,3,1 --activation relu
    curvsym laws gd --widths 3,3,3 --step 1/10          # laws the GD step map keeps exactly
    curvsym laws ngd-frac --widths 2,2,2 --json -

The CLI only parses arguments, calls :func:`curvsym.laws.laws` and prints the report
(``--json FILE`` or ``-`` for standard output).  Progress goes to standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import ArchitectureError
from . import arguments

__all__ = ["add_parser", "cmd_laws"]


def _flow(args: Any):
    """The flow named by the arguments: rule (or rule file) on a chain, ResNet or nonlinear data model."""
    from ..symbolic import derive, network  # deferred: the CLI builds its parsers without the library
    from ..symbolic.nonlinear import data_model  # deferred: as above
    from ..symbolic.rules import get_rule, load_rule_file  # deferred: as above
    options = {k: v for k, v in (("q", args.q), ("damping", args.damping)) if v is not None}
    rule = load_rule_file(args.rule_file) if args.rule_file else get_rule(args.rule, **options)
    if args.activation:
        net = network.chain(args.widths, activation=args.activation)
        return rule.flow(data_model(net, examples=args.examples))
    if args.resnet:
        if len(set(args.widths)) != 1:
            raise ArchitectureError(f"a linear ResNet has one width, got {','.join(map(str, args.widths))}")
        return rule.flow(derive.model(network.resnet(args.widths[0], len(args.widths) - 1), whitened=args.whitened))
    return rule.flow(derive.model(network.chain(args.widths), whitened=args.whitened))


def cmd_laws(args: Any) -> int:
    """Print the laws, the count, the certificate and the verdict (or the JSON)."""
    from ..laws import laws, step_laws  # deferred: the CLI builds its parsers without the library
    flow = _flow(args)
    quiet = args.quiet or args.json == "-"
    progress = None if quiet else (lambda s: print(f"… {s}", file=sys.stderr, flush=True))
    if args.step is not None:
        out = step_laws(flow, args.step, degree=args.degree, seed=args.seed)
        if args.json:
            _write(args.json, json.dumps(out, indent=2, ensure_ascii=False))
        if args.json != "-":
            print(f"{flow.name} on {flow.model.network.describe()}, step η = {out['eta']}, degree ≤ {args.degree}:")
            print(f"  independent laws of the flow: {out['flow']} (every step map keeps them to O(η²))")
            print(f"  kept exactly by the step map: {out['step']}")
            for text in out["laws"]:
                print(f"    {text}")
        return 0
    report = laws(flow, degree=args.degree, seed=args.seed, confirm=not args.no_confirm, progress=progress,
                  max_length=args.max_length)
    if args.json:
        _write(args.json, report.to_json())
    if args.json != "-":
        print(report)
    return 0


def _write(target: str, text: str) -> None:
    if target == "-":
        print(text)
    else:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``curvsym laws`` on the CLI's subparsers."""
    p = subparsers.add_parser("laws", help="discover a rule's conservation laws and certify there are no others",
                              description="Search the polynomial, matrix-level and determinant laws of a rule "
                                          "exactly (GF(p)), count the independent ones, and certify the maximum "
                                          "by the Lie-algebra rank criterion.")
    p.add_argument("rule", nargs="?", default="gd", help="rule key (curvsym rules lists them; default gd)")
    p.add_argument("--rule-file", metavar="FILE", help="a user rule file instead of RULE")
    p.add_argument("--widths", type=arguments.widths, default=[2, 3, 2], help="layer widths n_0,…,n_N "
                   "(default 2,3,2)")
    p.add_argument("--degree", type=arguments.positive_int("--degree"), default=4,
                   help="largest degree of the polynomial ansatz (≥ 1; default 4)")
    p.add_argument("--activation", help="a nonlinear net trained on data with this activation (relu, tanh, …)")
    p.add_argument("--examples", type=arguments.positive_int("--examples"), default=1,
                   help="data columns of a nonlinear net's loss (default 1: one sample per field)")
    p.add_argument("--resnet", action="store_true", help="linear ResNet (repeat one width depth+1 times)")
    p.add_argument("--whitened", action="store_true", help="Σx = I")
    p.add_argument("--q", type=float, default=None, help="correction exponent q of the rule")
    p.add_argument("--damping", type=float, default=None, help="damping λ of the rule")
    p.add_argument("--step", metavar="ETA", default=None, help="laws kept exactly by the step map θ + ηV (a "
                   "rational η such as 1/10)")
    p.add_argument("--max-length", type=arguments.positive_int("--max-length"), default=4,
                   help="longest bracket of the certificate (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random points and data (default 0)")
    p.add_argument("--no-confirm", action="store_true", help="skip the 50-digit trajectory confirmation")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON (- for standard output only)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_laws)
    return p
