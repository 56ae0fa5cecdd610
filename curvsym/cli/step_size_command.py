"""``curvsym discrete``: a rule's step map against its flow over a sweep of step sizes, or the paper's experiment.

    curvsym discrete --widths 3,3,3 --rule gd --eta 1e-2,5e-3,2.5e-3

prints ‖θ_k − θ(kη)‖ at common times for every η, the fitted order in η at every time and
of the largest distance, and the Elkabetz–Cohen envelope along the flow with the ratio
distance/envelope (:func:`curvsym.verify.step_size.gap_study`).

    curvsym discrete --digits-examples 1000 --activation relu --loss cross_entropy
    curvsym discrete --mnist train-images-idx3-ubyte train-labels-idx1-ubyte --activation relu

runs Elkabetz & Cohen's experiment on real data (:mod:`curvsym.papers.elkabetz2021`): GD at η₀
(``--eta``, default 10⁻³) against GD at η₀/r (``--ratios``), iteration k against iteration rk, on a
bias-free n_0-50-50-10 net from a Xavier-uniform start, and prints the loss, the distance
travelled, the distances, and the check of D_r ∝ 1 − 1/r with its control D_r ∝ 1 − 1/r².
``--json FILE`` writes either for scripts.  The CLI only parses arguments, calls the library and
prints.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from . import arguments

__all__ = ["add_parser", "cmd_discrete", "format_study", "format_experiment"]

EXPERIMENT_OPTIONS = ("activation", "loss", "hidden", "ratios", "steps", "log", "stride", "mnist_examples")
"""Options of the data experiment (``--digits-examples`` / ``--mnist``), refused in the gap study."""


def _fmt(x: float | None, spec: str = ".3e") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return format(x, spec)


def format_study(study: Any, rows: int = 10) -> str:
    """The distance table, fitted orders and envelope of a :class:`~curvsym.verify.step_size.GapStudy` as text."""
    times = list(study.times)
    picks = sorted({round(j * (len(times) - 1) / max(rows, 1)) for j in range(rows + 1)} - {0})
    etas = [r.eta for r in study.runs]
    head = ["t"] + [f"η={e:g}" for e in etas] + ["order"]
    if study.curvature is not None:
        head += ["λ_min", "∫|λ−|"]
        integral = study.curvature.negative_integral()
    body = []
    for j in picks:
        row = [f"{times[j]:.6g}"]
        for r in study.runs:
            row.append(_fmt(r.distance[j]) if j < len(r.distance) else "diverged")
        o = study.orders[j]
        row.append(_fmt(None if o is None else o.slope, ".3f"))
        if study.curvature is not None:
            row += [_fmt(study.curvature.lam_min[j], ".4g"), _fmt(float(integral[j]), ".4g")]
        body.append(row)
    out = [f"‖θ_k − θ(kη)‖ (iterates against the flow at the same times t = kη; reference: {study.reference})",
           _table(head, body)]
    om = study.order_max
    out.append(f"\nfitted order of max_t ‖θ_k − θ(kη)‖: {_fmt(None if om is None else om.slope, '.3f')}"
               + ("" if om is None else f"  (constant {math.exp(om.intercept):.3g}, rms {om.rms:.1e})"))
    if study.curvature is not None:
        head = ["t"] + [f"E(η={e:g})" for e in etas] + [f"d/E(η={e:g})" for e in etas]
        body = []
        for j in picks:
            row = [f"{times[j]:.6g}"]
            row += [_fmt(r.envelope[j]) if j < len(r.distance) else "—" for r in study.runs]
            row += [_fmt(r.distance[j] / r.envelope[j], ".4g") if j < len(r.distance) and r.envelope[j] > 0 else "—"
                    for r in study.runs]
            body.append(row)
        out.append("\nElkabetz–Cohen envelope E(t) = (η/2)∫₀ᵗ exp(∫ₛᵗ|λ−|) ‖f′f‖ ds along the flow "
                   f"(λ_min: {study.curvature.method})")
        out.append(_table(head, body))
        ratios = [r.envelope_ratio for r in study.runs]
        out.append("max_t distance/envelope: " + ", ".join(f"η={e:g}: {_fmt(x, '.4g')}" for e, x in zip(etas, ratios))
                   + f"; extrapolated to η → 0: {_fmt(study.envelope_ratio_limit(), '.4g')} "
                   "(a first-order envelope: ≤ 1 as η → 0)")
    for r in study.runs:
        if r.divergence is not None:
            out.append(f"diverged: {r.divergence}")
    for n in study.notes:
        if not n.startswith("diverged"):
            out.append(f"note: {n}")
    return "\n".join(out)


def _table(head: list, body: list) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(head), line("-" * w for w in widths)] + [line(b) for b in body])


def format_experiment(ex: Any, rows: int = 10) -> str:
    """The loss, distance travelled and distances of a step-size :class:`~curvsym.papers.elkabetz2021.Experiment`,
    then D_r = max_k distance against the (1 − 1/r) law and its (1 − 1/r²) control, as text."""
    from ..errors import OptionError  # deferred: fast CLI start
    from ..papers.elkabetz2021 import check_ratio_scaling, check_tracking, ratio_scaling  # deferred: fast CLI start
    n = len(ex.steps)
    picks = sorted({round(j * (n - 1) / max(rows, 1)) for j in range(rows + 1)} - {0}) if n > 1 else [0]
    head = ["k", "t", "loss(η₀)", "‖θ(k) − θ₀‖"] + [f"D(r={r})" for r in ex.ratios]
    body = []
    for j in picks:
        row = [str(ex.steps[j]), f"{ex.t[j]:.6g}", _fmt(ex.loss[1][j], ".6g") if j < len(ex.loss.get(1, ())) else "—",
               _fmt(ex.travelled[j], ".4e")]
        row += [_fmt(ex.distance[r][j]) if j < len(ex.distance[r]) else "diverged" for r in ex.ratios]
        body.append(row)
    out = [f"‖θ_η₀(k) − θ_η₀/r(rk)‖ (GD at η₀ = {ex.eta0:g}, iteration k, against GD at η₀/r, iteration rk)",
           _table(head, body)]
    try:
        s = ratio_scaling(ex)
    except OptionError as exc:
        out.append(f"\n{exc}")
        out.append(str(check_tracking(ex)))
    else:
        out.append("\nD_r = max_k ‖θ_η₀(k) − θ_η₀/r(rk)‖: " + ", ".join(
            f"r={r}: {d:.4e}" for r, d in zip(s.ratios, s.distances)))
        out.append("D_r / (C(1 − 1/r)): " + ", ".join(f"r={r}: {x:.4f}" for r, x in zip(s.ratios, s.normalised))
                   + f"  (C = {s.constant:.4e})")
        if s.first is not None:
            out.append(f"two-term fit D_r = a(1 − 1/r) + b(1 − 1/r²): a = {s.first:.4e}, b = {s.second:.4e} "
                       f"(b/a = {s.second / s.first:.4f})")
        out.append(str(check_tracking(ex)))
        out.append(str(check_ratio_scaling(ex)))
        out.append(str(check_ratio_scaling(ex, power=2)) + "   (control: GD within O(η²) of GF)")
    for note in ex.notes:
        out.append(f"diverged: {note}")
    return "\n".join(out)


def _experiment(args: Any) -> int:
    """``curvsym discrete --digits-examples N | --mnist IMAGES LABELS``: the paper's experiment on real data."""
    import numpy as np

    from ..errors import OptionError  # deferred: fast CLI start
    from ..integrate.iteration import step_sizes  # deferred: fast CLI start
    from ..papers import elkabetz2021 as ec  # deferred: fast CLI start
    if args.digits_examples is not None and args.mnist:
        raise OptionError("give either --digits-examples N or --mnist IMAGES LABELS, not both")
    if args.rule != "gd" or args.rule_file:
        raise OptionError("the data experiment runs gradient descent (the paper's); --rule and --rule-file apply "
                          "to the gap study")
    etas = [float(e) for e in step_sizes(_numbers(args.eta or "1e-3", "--eta"))]
    if len(etas) != 1:
        raise OptionError(f"the data experiment takes one η₀ (--ratios give η₀/r), got --eta {args.eta}")
    ratios = args.ratios or [2, 5, 10, 20]
    steps = 10_000 if args.steps is None else args.steps
    n_log = max(d for d in range(1, min(100, steps) + 1) if steps % d == 0) if args.log is None else args.log
    if steps % n_log:
        raise OptionError(f"--log {n_log} must divide --steps {steps} (the η₀ run is logged every steps/log iterations)")
    activation = args.activation or "linear"
    loss = args.loss or "cross_entropy"
    hidden = args.hidden or [50, 50]
    if args.mnist:
        P = ec.mnist_problem(args.mnist[0], args.mnist[1], args.mnist_examples or 1000,
                             50 if args.stride is None else args.stride, hidden, activation, loss)
    else:
        if args.stride is not None or args.mnist_examples is not None:
            raise OptionError("--stride and --mnist-examples apply to --mnist (the digits experiment takes the first "
                              "--digits-examples images)")
        if not 20 <= args.digits_examples <= 1797:
            raise OptionError(f"--digits-examples must be in 20 … 1797 (the bundled digits), got {args.digits_examples}")
        P = ec.digits_problem(args.digits_examples, hidden, activation=activation, loss=loss)
    W0 = ec.xavier_uniform(P.widths, np.random.default_rng(args.seed))
    ex = ec.step_size_experiment(P.flow(), W0, P.data(), etas[0], steps, ratios, n_log)
    print(f"% {P.describe()}; Xavier-uniform start (seed {args.seed}); GD η₀ = {etas[0]:g}, {steps} iterations, "
          f"against η₀/r for r ∈ {{{', '.join(map(str, ratios))}}}; one batched float64 run")
    print(format_experiment(ex, rows=args.rows))
    status, verdict = experiment_status(ex, args.margin)
    print(f"\nverdict: {verdict} (exit status {status})")
    if args.json:
        out = ex.as_dict()
        out.update({"problem": P.describe(), "source": P.source, "widths": list(P.widths),
                    "activation": P.activation, "loss_kind": P.loss_kind, "examples": int(P.X.shape[1]),
                    "indices": [int(i) for i in P.indices], "normalization": list(P.normalization),
                    "seed": args.seed, "relative_distance": {str(r): ex.relative_distance(r) for r in ex.distance}})
        try:
            s = ec.ratio_scaling(ex)
            out["ratio_scaling"] = {"ratios": list(s.ratios), "distances": list(s.distances),
                                    "normalised": list(s.normalised), "constant": s.constant,
                                    "first_order": s.first, "second_order": s.second}
            out["checks"] = [_check_dict(ec.check_tracking(ex)), _check_dict(ec.check_ratio_scaling(ex)),
                             _check_dict(ec.check_ratio_scaling(ex, power=2))]
        except OptionError as exc:
            out["ratio_scaling"] = None
            out["checks"] = [_check_dict(ec.check_tracking(ex))]
            out["notes"].append(str(exc))
        out["verdict"], out["exit_status"] = verdict, status
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
        print(f"\nJSON written to {args.json}")
    return status


UNDECIDED = 3   # exit status of a data experiment whose verdict sits within the margin of a tolerance


def experiment_status(ex: Any, margin: float = 0.1) -> tuple[int, str]:
    """(exit status, verdict line) of a data experiment: the claims are the tracking check and the (1 − 1/r)
    law, the control the (1 − 1/r²) law.  A check is decided only when its residual clears its tolerance by
    ``margin`` (relative): 0 every claim verified and the control rejected; 1 a claim failed or the control held;
    3 (:data:`UNDECIDED`) otherwise, naming the check at its margin."""
    from ..errors import OptionError  # deferred: fast CLI start
    from ..papers.elkabetz2021 import check_ratio_scaling, check_tracking  # deferred: fast CLI start
    claims = [check_tracking(ex)]
    control = None
    try:
        claims.append(check_ratio_scaling(ex))
        control = check_ratio_scaling(ex, power=2)
    except OptionError:
        pass

    def decided(c):
        return math.isinf(c.residual) or abs(c.residual - c.tolerance) > margin * c.tolerance
    undecided = [c for c in claims + ([control] if control is not None else []) if not decided(c)]
    failed = [c.name for c in claims if decided(c) and not c.passed]
    if control is not None and decided(control) and control.passed:
        failed.append(f"the control ({control.name}) held")
    if failed:
        return 1, "FAILED: " + "; ".join(failed)
    if undecided:
        return UNDECIDED, "UNDECIDED: " + "; ".join(
            f"{c.name} has residual {c.residual:.4g} within {margin:.0%} of its tolerance {c.tolerance:g}"
            for c in undecided)
    return 0, "verified" + ("" if control is None else " (control rejected)")


def _check_dict(c: Any) -> dict:
    return {"name": c.name, "residual": c.residual, "tolerance": c.tolerance, "passed": c.passed,
            "verdict": c.verdict, "details": c.details}


def _numbers(text: str, option: str) -> list[float]:
    from ..errors import OptionError  # deferred: fast CLI start
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise OptionError(f"{option} must be comma-separated numbers, got {text!r}") from None


def cmd_discrete(args: Any) -> int:
    """Run ``curvsym discrete`` (η checked before anything is derived).

    Raises:
        OptionError: a bad η, rule option, time or precision; options of the other mode.
        DatasetFileError, DatasetError: MNIST files that are missing or malformed.
        UnknownNameError: an unknown activation or loss.
    """
    import numpy as np

    from ..errors import OptionError  # deferred: fast CLI start
    from ..integrate.iteration import step_sizes  # deferred: fast CLI start
    from ..symbolic import derive, network, rules  # deferred: fast CLI start
    from ..verify.step_size import gap_study  # deferred: fast CLI start
    if args.digits_examples is not None or args.mnist:
        return _experiment(args)
    given = [f"--{o.replace('_', '-')}" for o in EXPERIMENT_OPTIONS if getattr(args, o) is not None]
    if given:
        raise OptionError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to the data "
                          "experiment (--digits-examples N or --mnist IMAGES LABELS)")
    args.eta = args.eta or "1e-2,5e-3,2.5e-3"
    etas = [float(e) for e in step_sizes(_numbers(args.eta, "--eta"))]
    if not (math.isfinite(args.t_end) and args.t_end > 0):
        raise OptionError(f"--t-end must be a finite positive time, got {args.t_end!r}")
    m = derive.model(network.chain(args.widths), whitened=args.whitened)
    if args.rule_file:
        rule = rules.load_rule_file(args.rule_file)
    else:
        options = {}
        if args.q is not None:
            options["q"] = args.q
        if args.damping is not None:
            options["damping"] = args.damping
        if args.strict:
            options["strict"] = True
        rule = rules.get_rule(args.rule, **options)
    flow = rule.flow(m)
    from ..data.problems import conditioned_instance, random_instance  # deferred: fast CLI start
    if args.init == "conditioned":
        inst = conditioned_instance(m.network, seed=args.seed, whitened=args.whitened)
    else:
        inst = random_instance(m.network, seed=args.seed, scale=args.scale, whitened=args.whitened)
    dps = None if args.double else args.dps
    study = gap_study(flow, inst.weights, inst.data(args.whitened), etas, args.t_end, dps=dps,
                      iterates=args.iterates, curvature=not args.no_envelope and "auto",
                      max_points=args.points)
    start = f"scale {args.scale:g}" if args.init == "random" else "orthogonal layers"
    print(f"% {rule.name} on {m.network.describe()}; {args.init} start (seed {args.seed}, {start}), "
          f"t ∈ [0, {args.t_end:g}], {len(study.times) - 1} output intervals; iterates: "
          + ("float64, one batched run" if args.iterates == "double" else f"{dps} digits"))
    print(format_study(study, rows=args.rows))
    if args.json:
        out = study.as_dict()
        out.update({"widths": args.widths, "rule_key": getattr(rule, "key", "custom"), "seed": args.seed,
                    "scale": args.scale, "t_end": args.t_end, "dps": dps, "iterates": args.iterates,
                    "weights0": [np.asarray(w).tolist() for w in inst.weights]})
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
        print(f"\nJSON written to {args.json}")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``curvsym discrete`` on the CLI's subparsers."""
    p = subparsers.add_parser("discrete", help="a rule's step map against its flow: distances, fitted orders in η, "
                                               "the Elkabetz–Cohen envelope")
    p.add_argument("--widths", type=arguments.widths, default=[3, 3, 3], help="layer widths n_0,…,n_N (default 3,3,3)")
    p.add_argument("--rule", default="gd", help="rule key (curvsym rules lists them; default gd)")
    p.add_argument("--rule-file", metavar="FILE", help="a user rule file instead of --rule")
    p.add_argument("--q", type=float, default=None, help="correction exponent q of the rule")
    p.add_argument("--damping", type=float, default=None, help="damping λ of the rule")
    p.add_argument("--eta", default=None, help="comma-separated step sizes (each finite, > 0; default "
                   "1e-2,5e-3,2.5e-3); in the data experiment the one η₀ (default 1e-3)")
    p.add_argument("--t-end", type=float, default=1.0, help="compare on [0, T] (a whole number of every η; default 1)")
    p.add_argument("--seed", type=int, default=0, help="random start and data (default 0)")
    p.add_argument("--scale", type=float, default=0.5, help="initial weight scale (default 0.5)")
    p.add_argument("--init", default="random", choices=("random", "conditioned"),
                   help="random Gaussian layers (--scale) or orthogonal layers with a well-conditioned target "
                        "(better for curvature-corrected rules)")
    p.add_argument("--strict", action="store_true", help="strict inverses (needed for NGD's derivative, hence "
                   "its envelope and modified equations, where 𝒦 is invertible)")
    p.add_argument("--whitened", action="store_true", help="Σx = I")
    p.add_argument("--dps", type=int, default=30, help="digits of the reference flow (default 30)")
    p.add_argument("--double", action="store_true", help="reference flow by DOP853 in double precision instead")
    p.add_argument("--iterates", default="double", choices=("double", "precise"),
                   help="iterates in float64 (one batched run; default) or at --dps digits")
    p.add_argument("--points", type=int, default=400, help="at most this many output intervals (default 400)")
    p.add_argument("--rows", type=int, default=10, help="rows of the printed table (default 10)")
    p.add_argument("--no-envelope", action="store_true", help="skip λ_min and the envelope")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    e = p.add_argument_group("the paper's experiment on real data (GD at η₀ against η₀/r, Elkabetz & Cohen 2021)")
    e.add_argument("--digits-examples", type=arguments.positive_int("--digits-examples"), metavar="N",
                   help="run it on the first N scikit-learn digits (bundled; 20 … 1797), 64-…-10")
    e.add_argument("--mnist", nargs=2, metavar=("IMAGES", "LABELS"),
                   help="run it on MNIST IDX files you have (plain or gzipped; never downloaded): images 0, s, "
                        "2s, … normalised (x − 0.1307)/0.3081, 784-…-10")
    e.add_argument("--mnist-examples", type=arguments.positive_int("--mnist-examples"), default=None, metavar="N",
                   help="MNIST images to use (default 1000)")
    e.add_argument("--stride", type=arguments.positive_int("--stride"), default=None, help="MNIST index stride s (default 50)")
    e.add_argument("--margin", type=float, default=0.1, help="a check is decided only when its residual clears its "
                   "tolerance by this fraction; else the exit status is 3, undecided (default 0.1)")
    e.add_argument("--activation", default=None, help="hidden activation: linear (default), relu, leaky_relu(α), "
                                                      "tanh, softplus(β)")
    e.add_argument("--loss", default=None, help="cross_entropy (default) or mse")
    e.add_argument("--hidden", type=arguments.positive_ints("--hidden"), default=None, help="hidden widths (default 50,50)")
    e.add_argument("--ratios", type=arguments.positive_ints("--ratios"), default=None,
                   help="compare η₀ with η₀/r for these r (default 2,5,10,20)")
    e.add_argument("--steps", type=arguments.positive_int("--steps"), default=None,
                   help="iterations at η₀ (default 10000, the paper's; r·steps at η₀/r)")
    e.add_argument("--log", type=arguments.positive_int("--log"), default=None,
                   help="logged times, a divisor of --steps (default: the largest divisor ≤ 100)")
    p.set_defaults(func=cmd_discrete)
    return p
