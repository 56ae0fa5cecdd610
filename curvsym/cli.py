"""Command line: ``curvsym prove``, ``curvsym derive``.

Numbers flow one way: the CLI only parses arguments, calls the library and
prints what it returns.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from .errors import CurvsymError


def _widths(text: str) -> list[int]:
    try:
        ws = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths must be comma-separated integers, got {text!r}")
    return ws


def cmd_prove(args: Any) -> int:
    from .verify.report import table, write_json
    from .verify.theorem import discover, run_theorem
    theorems = discover(args.paths)
    if args.select:
        theorems = [t for t in theorems if args.select.lower() in t.name.lower()]
    if not theorems:
        print(f"no theorems found in {', '.join(args.paths)}", file=sys.stderr)
        return 2
    reports = []
    for th in theorems:
        if not args.quiet:
            print(f"… {th.name}", file=sys.stderr, flush=True)
        reports.append(run_theorem(th, args.digits))
    print(table(reports))
    if args.json:
        write_json(reports, args.json)
        print(f"\nJSON written to {args.json}")
    return 0 if all(r.passed for r in reports) else 1


def cmd_derive(args: Any) -> int:
    from .symbolic import derive, network
    net = network.resnet(args.widths[0], len(args.widths) - 1) if args.resnet else network.chain(args.widths)
    m = derive.model(net, whitened=args.whitened)
    flow = derive.gradient_flow(m)
    print(f"% {net.describe()}")
    print(flow.latex())
    if args.code:
        from .codegen import generate_flow
        gen = generate_flow(flow, backend=args.backend)
        print(f"\n# generated ({gen.n_products} matrix products per evaluation)\n{gen.source}")
    return 0


def cmd_rules(args: Any) -> int:
    from .symbolic import derive, network
    from .symbolic.rules import RULES, get_rule
    if args.file or args.show:
        if args.file:
            from .symbolic.rules import load_rule_file
            rule = load_rule_file(args.file)
        else:
            rule = get_rule(args.show)
        m = derive.model(network.chain(args.widths), whitened=args.whitened)
        flow = rule.flow(m)
        print(f"% {rule.name} on {m.network.describe()}")
        print(flow.latex())
        from .symbolic.algebra import prove_conserved
        proofs = prove_conserved(flow) if m.depth > 1 else []
        if proofs:
            print("% balance C_i conserved (exact): " + ", ".join(f"{p.quantity}: {'yes' if p.holds else 'no'}"
                                                               for p in proofs))
        return 0
    print("available learning rules (curvsym rules --show KEY --widths 2,3,2 derives one):\n")
    for key in RULES:
        rule = get_rule(key)
        print(f"  {key:<11} {rule.name}")
        print(f"  {'':<11} {rule.text if not args.latex else rule.formula}")
        print(f"  {'':<11} conserves balance C_i: {'yes (row-space velocity)' if rule.row_space else 'no'}\n")
    print("  custom      a rule file (name = …, velocity = …, q = …) read safely: curvsym rules --file my.rule")
    return 0


def cmd_bench(args: Any) -> int:
    from .bench import bench_ensemble, run, table
    rows = run(parts=args.only, quick=args.quick) if args.only else []
    if args.backend:
        names = [b.strip() for b in args.backend.split(",") if b.strip()]
        if "numpy" not in names:
            names.insert(0, "numpy")  # the reference of every ensemble row
        sizes = ((512, 4, 8), (8, 8, 64)) if args.quick else ((4096, 4, 8), (64, 8, 256))
        rows += bench_ensemble(names, sizes=sizes)
    print(table(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="curvsym", description="Symbolic-numeric learning dynamics of deep linear networks.")
    sub = p.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("prove", help="run theorem files and print a verdict table")
    pr.add_argument("paths", nargs="+", help="theorem files or folders of them")
    pr.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    pr.add_argument("--digits", type=int, default=None, help="override every theorem's working digits")
    pr.add_argument("-k", "--select", metavar="TEXT", help="only theorems whose name contains TEXT")
    pr.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    pr.set_defaults(func=cmd_prove)

    de = sub.add_parser("derive", help="print the gradient-flow ODEs (LaTeX) and optionally the generated code")
    de.add_argument("widths", type=_widths, help="layer widths n_0,n_1,…,n_N")
    de.add_argument("--resnet", action="store_true", help="linear ResNet of width n_0 and depth len(widths)−1")
    de.add_argument("--whitened", action="store_true", help="Σx = I")
    de.add_argument("--code", action="store_true", help="also print the generated Python")
    de.add_argument("--backend", default="numpy", choices=("numpy", "mpmath", "array_api"))
    de.set_defaults(func=cmd_derive)

    ru = sub.add_parser("rules", help="list the learning rules with their formulas, or derive one")
    ru.add_argument("--latex", action="store_true", help="print formulas as LaTeX")
    ru.add_argument("--show", metavar="KEY", help="derive the flow of this rule")
    ru.add_argument("--file", metavar="RULE_FILE", help="derive a user rule from a rule file (parsed safely)")
    ru.add_argument("--widths", type=_widths, default=[2, 3, 2], help="widths for --show/--file (default 2,3,2)")
    ru.add_argument("--whitened", action="store_true", help="Σx = I")
    ru.set_defaults(func=cmd_rules)

    be = sub.add_parser("bench", help="benchmarks: ratios against named references, measured side by side")
    be.add_argument("--only", default="abcd", help="which parts a–d to run, e.g. 'ac' (default abcd; '' for none)")
    be.add_argument("--backend", metavar="NAMES", help="also (e) batched-ensemble throughput on these array "
                    "backends, e.g. numpy,torch,jax,cupy (GPU used when the backend sees one)")
    be.add_argument("--quick", action="store_true", help="smaller sizes and spans (a smoke run)")
    be.set_defaults(func=cmd_bench)

    from .cli_discrete import add_parser as add_discrete
    add_discrete(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CurvsymError as exc:
        print(f"curvsym: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
