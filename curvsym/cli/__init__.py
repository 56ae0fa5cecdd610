"""Command line: ``curvsym prove``, ``derive``, ``rules``, ``bench``, ``sweep``, ``discrete``, ``info``, ``laws``.

Modules: ``arguments`` (shared argument types: widths, step sizes, …),
``step_size_command`` (``curvsym discrete``: a rule's step map against its flow),
``info_command`` (``curvsym info``: the active engines, kernels and array backends) and
``laws_command`` (``curvsym laws``: the conservation laws of a rule, with their certificate).

Numbers flow one way: the CLI only parses arguments, calls the library and
prints what it returns.  Every mistake a user can make on the command line ends
in one line naming it (``curvsym: error: …`` or argparse's own usage line), never
in a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, Sequence

from ..errors import CurvsymError
from . import arguments

RULE_FILE_HELP = """\
A rule file holds `key = value` lines (`#` starts a comment):

  name     = half block                                  # optional display name
  velocity = -power(G, -q) @ grad @ power(A, -q)         # required, exactly once
  q        = 1/2                                         # optional numbers: q, lam, N

The velocity is one layer's dW/dt in the template symbols grad (= dL/dW),
W, G (= W_>ᵀW_>), A (= W_< Σx W_<ᵀ), W_gt, W_lt, Sigma_x, E (= W − T), the
scalars q, lam, N, and the functions inv, pinv, power(X, e), damped_power(X, e, λ),
sqrt, with + - * / @ ** and .T.  The text is parsed without eval: anything else
(attributes, calls, subscripts, keywords) is refused, and so is what cannot run
(division by zero or by a parameter that may be zero, powers of non-square or
non-symmetric matrices).  Example: examples/half_block.rule.
"""


def cmd_prove(args: Any) -> int:
    """``curvsym prove``: run theorem files, print the verdict table; 0 iff every theorem passed.

    Raises:
        OptionError: ``--json`` names a folder or a file in a folder that does not exist.
    """
    from ..errors import OptionError  # deferred: fast CLI start
    from ..verify.report import row, table, write_json  # deferred: fast CLI start
    from ..verify.theorem_process import discover_isolated, prove_isolated  # deferred: fast CLI start
    if args.json and (os.path.isdir(args.json) or not os.path.isdir(os.path.dirname(args.json) or ".")):
        raise OptionError(f"--json {args.json}: not a file in an existing folder")  # before hours of proving
    try:  # every file imported and every theorem run in a process of its own (verify/theorem_process.py)
        theorems = discover_isolated(args.paths, args.timeout, args.jobs)
        if args.select:
            theorems = [t for t in theorems if args.select.lower() in t.name.lower()]
        if not theorems:
            print(f"curvsym: error: no theorems found in {', '.join(args.paths)}", file=sys.stderr)
            return 2
        if args.seeds:
            return _prove_seeds(theorems, args)
        finished = []

        def done(report):  # each theorem's row as it finishes
            finished.append(report)
            if not args.quiet:
                print(row(report, len(finished), len(theorems)), file=sys.stderr, flush=True)
        if not args.quiet:
            print(f"proving {len(theorems)} theorems, {args.jobs} at a time; each row appears as it finishes",
                  file=sys.stderr, flush=True)
        reports = prove_isolated(theorems, args.digits, args.timeout, args.jobs, seed=args.seed, on_done=done)
    except KeyboardInterrupt:
        print("curvsym: interrupted: every theorem process was stopped; no table", file=sys.stderr)
        return 130
    if args.seed is not None:
        print(f"% every random instance redrawn from seed {args.seed}")
    print(table(reports, wide=args.wide))
    if args.json:
        try:
            write_json(reports, args.json)
        except OSError as exc:
            print(f"curvsym: error: cannot write --json {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"\nresults: the table above; every detail in {args.json}")
    else:
        print("\nresults: the table above" + ("" if args.wide else "; --wide adds the proofs and notes")
              + ", --json FILE writes every detail")
    return 0 if all(r.passed for r in reports) else 1


def _prove_seeds(theorems: list, args: Any) -> int:
    """``curvsym prove --seeds N``: every theorem on N fresh seeds; 0 iff every theorem meets its claimed rate."""
    import json

    from ..bench.fresh_seeds import first_seed, seed_sweep, seed_table  # deferred: fast CLI start
    from ..verify.theorem_process import prove_isolated  # deferred: fast CLI start
    first = first_seed() if args.seed is None else args.seed
    print(f"% fresh seeds from {first} (rerun with --seed {first} to reproduce)", flush=True)

    def done(seed, reports):
        if not args.quiet:
            bad = [f"{r.name} ({r.verdict})" for r in reports if r.verdict != "PASS"]
            print(f"… seed {seed}: {sum(r.verdict == 'PASS' for r in reports)}/{len(reports)} passed"
                  + (f"; not passed: {'; '.join(bad)}" if bad else ""), file=sys.stderr, flush=True)
    rows = seed_sweep(theorems, args.seeds, first, args.digits, args.timeout, args.jobs, on_seed=done,
                      run=prove_isolated)
    print(seed_table(rows, first))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"first_seed": first, "n": args.seeds, "theorems": [r.as_dict() for r in rows]}, fh, indent=1)
        print(f"\nJSON written to {args.json}")
    return 0 if all(r.met for r in rows) else 1


def cmd_derive(args: Any) -> int:
    """``curvsym derive``: the gradient flow of a chain or linear ResNet, as LaTeX and/or code.

    Raises:
        ArchitectureError: ``--resnet`` with unequal widths.
    """
    from ..errors import ArchitectureError  # deferred: fast CLI start
    from ..symbolic import derive, network  # deferred: fast CLI start
    if args.resnet:
        if len(set(args.widths)) != 1:
            raise ArchitectureError(f"a linear ResNet has one width (its skips are identities), got "
                               f"{','.join(map(str, args.widths))}; repeat one width, e.g. "
                               f"{','.join([str(args.widths[0])] * len(args.widths))}")
        net = network.resnet(args.widths[0], len(args.widths) - 1)
    else:
        net = network.chain(args.widths)
    m = derive.model(net, whitened=args.whitened)
    flow = derive.gradient_flow(m)
    print(f"% {net.describe()}")
    if not args.no_latex:
        print(flow.latex(expand=args.expand))
    if args.code or args.no_latex:
        from ..codegen import generate_flow  # deferred: fast CLI start
        gen = generate_flow(flow, backend=args.backend)
        print(f"\n# generated ({gen.n_products} matrix products per evaluation)\n{gen.source}")
    return 0


def _conservation_text(proof: Any, state_model: Any) -> str:
    """One proof of dC_i/dt ≡ 0 in words: yes, or not conserved with its evidence (dC_i/dt at a random point,
    and its free-algebra expansion when that is written in the state's own letters), unresolved, or undefined
    at these widths (the flow cannot be evaluated there, with the reason)."""
    name = proof.quantity
    if proof.holds:
        return f"{name}: yes"
    if proof.status == "undefined":
        return f"{name}: undefined at these widths ({proof.reason})"
    if proof.status != "refuted":
        return f"{name}: {proof.status}"
    used = {str(s).removesuffix("^T") for s in proof.derivative.free_symbols}
    auxiliary = {w.name for w in state_model.weights[len(state_model.network.weights):]}
    plain = used <= {w.name for w in state_model.weights}
    formula = f"d{name}/dt = {proof.derivative} ≠ 0" if plain else f"d{name}/dt ≠ 0"
    where = "a random point (weights and auxiliary state drawn)" if auxiliary else "a random point"
    why = f"; the auxiliary state {', '.join(sorted(used & auxiliary))} enters it" if plain and used & auxiliary else ""
    return (f"{name}: not conserved ({formula}: max|d{name}/dt|/(1 + max|y|²) = {proof.counterexample:.2g} at "
            f"{where}{why})")


def cmd_rules(args: Any) -> int:
    """``curvsym rules``: list the rules, or derive one (``--show``) or a rule file (``--file``)."""
    from ..symbolic import derive, network  # deferred: fast CLI start
    from ..symbolic.rules import RULES, get_rule, load_rule_file  # deferred: fast CLI start
    from ..verify.identities import prove_conserved  # deferred: fast CLI start
    if args.file or args.show:
        rule = load_rule_file(args.file) if args.file else get_rule(args.show)
        m = derive.model(network.chain(args.widths), whitened=args.whitened)
        flow = rule.flow(m)
        print(f"% {rule.name} on {m.network.describe()}")
        print(flow.latex(expand=args.expand))
        proofs = prove_conserved(flow) if m.depth > 1 else []
        if proofs:
            print("% balance C_i conserved (exact): " + "; ".join(_conservation_text(p, flow.model) for p in proofs))
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
    """``curvsym bench``: benchmark rows with ratios against named references."""
    from ..bench import bench_ensemble, bench_torch_loops, run, table  # deferred: fast CLI start
    from ..sweep.quiet import quiet_dask_until_exit  # deferred: fast CLI start
    if not args.verbose:  # the sweep parts start Dask clusters: their log lines are not curvsym's output
        quiet_dask_until_exit()
    rows = run(parts=args.only, quick=args.quick) if args.only else []
    if args.backend:
        names = [b.strip() for b in args.backend.split(",") if b.strip()]
        if "numpy" not in names:
            names.insert(0, "numpy")  # the reference of every ensemble row
        sizes = ((512, 4, 8), (8, 8, 64)) if args.quick else ((4096, 4, 8), (64, 8, 256))
        rows += bench_ensemble(names, sizes=sizes)
        if "torch" in names:
            rows += bench_torch_loops(sizes=((8, 8, 64), (2, 8, 128)) if args.quick else
                                      ((64, 8, 64), (16, 8, 128), (4, 8, 256)))
    print(table(rows))
    print("\nresults: the table above (nothing is written to disk)")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``curvsym derive: error: … (see curvsym derive --help)``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Dropped:
    """Stands in for the parser of a command that is not being run: whatever is added to it is dropped."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


class _Commands:
    """The subcommands action, through which every command registers its parser; only the parser of command
    ``fill`` (every one for None) gets its arguments, the others are their name and help line alone (all that
    ``curvsym --help`` and argparse's choice errors show), so a run builds one command's options, not all."""

    def __init__(self, action: Any, fill: str | None):
        self.action, self.fill = action, fill

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        parser = self.action.add_parser(name, **kwargs)
        return parser if self.fill is None or self.fill == name else _Dropped()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``curvsym`` argument parser (subcommands prove, derive, rules, bench, sweep, discrete, info); it imports
    no part of the library (each command imports its implementation when it runs).  With ``command``, only that
    subcommand's options are built ("" for none: the top-level help)."""
    from ..version import __version__  # deferred: fast CLI start
    p = _Parser(prog="curvsym", description="Symbolic-numeric learning dynamics of deep networks.")
    p.add_argument("--version", action="version", version=f"curvsym {__version__}")
    sub = _Commands(p.add_subparsers(dest="command", required=True, parser_class=_Parser), command)

    pr = sub.add_parser("prove", help="run theorem files and print a verdict table",
                        description="Run every theorem in the given files and folders (sub-folders included) and "
                                    "print a verdict table.  Theorem files are ordinary Python run with your "
                                    "rights: trust them like any script.")
    pr.add_argument("paths", nargs="+", help="theorem files or folders of them")
    pr.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    pr.add_argument("--digits", type=arguments.digits, default=None, help="override every theorem's working digits (≥ 15)")
    pr.add_argument("-k", "--select", metavar="TEXT", help="only theorems whose name contains TEXT")
    pr.add_argument("-j", "--jobs", type=arguments.positive(int, "--jobs"), default=os.cpu_count() or 1,
                    help="theorems run in this many processes at once (default: all cores)")
    pr.add_argument("--timeout", type=arguments.positive(float, "--timeout"), default=900.0, metavar="SECONDS",
                    help="wall-clock limit per theorem; one that runs out is reported as TIMEOUT (default 900)")
    pr.add_argument("--seed", type=arguments.non_negative_int("--seed"), default=None, metavar="S",
                    help="redraw every random instance from seed S (default: the shipped instances); with --seeds, "
                         "the first seed")
    pr.add_argument("--seeds", type=arguments.positive(int, "--seeds"), default=None, metavar="N",
                    help="run every theorem on N fresh seeds (from --seed S, else from a seed drawn by the OS) and "
                         "report the pass rate per theorem against its claimed rate (exact: every seed)")
    pr.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    pr.add_argument("--wide", action="store_true", help="the full table: symbolic proofs, digits and every "
                    "theorem's notes (wider than 100 columns)")
    pr.set_defaults(func=cmd_prove)

    de = sub.add_parser("derive", help="print the gradient-flow ODEs (LaTeX) and optionally the generated code",
                        description="Derive the gradient flow of a deep linear chain (or, with --resnet, a linear "
                                    "ResNet) on the population loss ½ tr((W − T) Σx (W − T)ᵀ), and print it as "
                                    "LaTeX with named intermediates (M_v, W, E, B_v); --code adds the generated "
                                    "Python right-hand side, --no-latex prints that alone.  Example: "
                                    "curvsym derive 3,4,2,3 --code")
    de.add_argument("widths", type=arguments.widths, help="layer widths n_0,n_1,…,n_N (positive integers)")
    de.add_argument("--resnet", action="store_true", help="linear ResNet of width n (give n repeated depth+1 times)")
    de.add_argument("--whitened", action="store_true", help="Σx = I")
    de.add_argument("--expand", action="store_true", help="print every velocity flattened instead of named "
                                                          "intermediates")
    de.add_argument("--code", action="store_true", help="also print the generated Python")
    de.add_argument("--no-latex", action="store_true", help="print the generated Python only")
    de.add_argument("--backend", default="numpy", choices=("numpy", "mpmath", "array_api"),
                    help="which generated code to print: numpy (float64), mpmath (object arrays at any number "
                         "of digits, what the Taylor integrator runs) or array_api (one source for NumPy, "
                         "PyTorch, JAX, CuPy); default numpy")
    de.set_defaults(func=cmd_derive)

    ru = sub.add_parser("rules", help="list the learning rules with their formulas, or derive one",
                        description="List the learning rules, derive one (--show KEY), or derive a rule from a "
                                    "rule file (--file).", epilog=RULE_FILE_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ru.add_argument("--latex", action="store_true", help="print formulas as LaTeX")
    ru.add_argument("--show", metavar="KEY", help="derive the flow of this rule")
    ru.add_argument("--file", metavar="RULE_FILE", help="derive a user rule from a rule file (parsed safely)")
    ru.add_argument("--widths", type=arguments.widths, default=[2, 3, 2], help="widths for --show/--file (default 2,3,2)")
    ru.add_argument("--whitened", action="store_true", help="Σx = I")
    ru.add_argument("--expand", action="store_true", help="print the velocities flattened")
    ru.set_defaults(func=cmd_rules)

    be = sub.add_parser("bench", help="benchmarks: ratios against named references, measured side by side",
                        description="Run the benchmarks and print one table: for each part our time, a named "
                                    "reference measured side by side in the same run, the ratio and its target. "
                                    "All parts take about 14 min on 2 cores; --quick is a smoke run of seconds "
                                    "to minutes, --only picks parts.  Example: curvsym bench --quick --only d")
    be.add_argument("--only", default="abcdfghij", help="which parts to run, as letters ('ac') or names "
                    "('rhs,precision'): a rhs, b odefun, c double, d derivation, f sweeps, g nonlinear, "
                    "h precision, i discrete, j laws (default: all; '' for none)")
    be.add_argument("--backend", metavar="NAMES", help="also (e) batched-ensemble throughput on these array "
                    "backends, e.g. numpy,torch,jax,cupy (GPU used when the backend sees one)")
    be.add_argument("--quick", action="store_true", help="smaller sizes and spans (a smoke run)")
    be.add_argument("--verbose", action="store_true", help="also show third-party log lines (Dask's cluster logs)")
    be.set_defaults(func=cmd_bench)
    from ..sweep.commands import add_parser as add_sweep_parser  # deferred: fast CLI start
    add_sweep_parser(sub)
    from .step_size_command import add_parser as add_discrete  # deferred: fast CLI start
    add_discrete(sub)
    from .info_command import add_parser as add_info  # deferred: fast CLI start
    add_info(sub)
    from .laws_command import add_parser as add_laws  # deferred: fast CLI start
    add_laws(sub)
    return p


_NEGATIVE_LIST = re.compile(r"^-\d[\d,\-]*$")


def _protect_negative_lists(argv: list[str]) -> list[str]:
    """``derive -1,2`` would read ``-1,2`` as an option; put ``--`` before such a value so that its
    validation can name the bad width."""
    for k, a in enumerate(argv):
        if a == "--":
            break
        if _NEGATIVE_LIST.match(a) and not re.match(r"^-\d+$", a):
            return argv[:k] + ["--"] + argv[k:]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a usage or input error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # the one answer that needs no parser (the start-up time: README, Timings)
        from ..version import __version__  # deferred: fast CLI start
        print(f"curvsym {__version__}")
        return 0
    command = next((a for a in argv if not a.startswith("-")), "")  # the top level has no option with a value
    args = build_parser(command).parse_args(_protect_negative_lists(argv))
    try:
        return args.func(args)
    except CurvsymError as exc:
        print(f"curvsym: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's status for SIGINT, no traceback
        print("curvsym: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
