"""Time the markdown sanitiser and the eval scorer on adversarial texts, now and at a base commit, side by side.

Every function that runs on a visitor's or a server's text runs on the thread that serves the other visitors, so
it must be linear in its input. The texts below are the shapes that made the old code quadratic (and a few more of
the same kind); tests/chat/test_linear_time_text.py times the same texts at growing sizes.

    python -m bench.adversarial_text                   # 100 KB texts, this tree vs commit d426879
    python -m bench.adversarial_text --kb 100 --base d426879 --before-limit-s 300

The base commit's functions are loaded from git into a separate process, which is stopped after --before-limit-s
seconds per text (printed as "> N s").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parent.parent

# name -> (what it is, text of about n characters)
TEXTS: dict[str, tuple[str, Callable[[int], str]]] = {
    "image-openers": ("'![' repeated (the stored-freeze prompt)", lambda n: "![" * (n // 2)),
    "inline-image-starts": ("'![a](' repeated", lambda n: "![a](" * (n // 5)),
    "image-then-spaces": ("'![a](' then spaces", lambda n: "![a](" + " " * (n - 6) + "x"),
    "reference-starts": ("'![a][' repeated", lambda n: "![a][" * (n // 5)),
    "img-tags": ("'<img' repeated", lambda n: "<img" * (n // 4)),
    "brackets": ("'[' repeated", lambda n: "[" * n),
    "digits": ("one run of digits", lambda n: "7" * n),
    "digits-then-letter": ("a run of digits and a letter", lambda n: "7" * (n - 1) + "x"),
    "grouped-digits": ("'1,111,111,...'", lambda n: "1" + ",111" * (n // 4)),
    "answer-inner-spaces": ("ANSWER line with a long inner run of spaces", lambda n: "ANSWER: a" + " " * n + "b"),
    "answer-inner-dots": ("ANSWER line with a long inner run of dots", lambda n: "ANSWER: " + "." * n + "x"),
    "answer-inner-dollars": ("ANSWER line with a long inner run of '$'", lambda n: "ANSWER: " + "$" * n + "x"),
    "answer-markers": ("'ANSWER:' repeated", lambda n: "ANSWER:\n" * (n // 8)),
    "boxed-openers": ("'\\boxed{' repeated", lambda n: "\\boxed{" * (n // 7)),
}

SANITISER_TEXTS = ("image-openers", "inline-image-starts", "image-then-spaces", "reference-starts", "img-tags",
                   "brackets")
SCORER_TEXTS = ("digits", "digits-then-letter", "grouped-digits", "answer-inner-spaces", "answer-inner-dots",
                "answer-inner-dollars", "answer-markers", "boxed-openers")


def sanitiser(module) -> Callable[[str], object]:
    return module.safe_markdown


def scorers(module) -> list[Callable[[str], object]]:
    """The scorer calls a reply goes through: numeric (the digit scan), exact/contains/choice (answer line)."""
    return [lambda t: module.score_reply(t, "42", "numeric"), lambda t: module.score_reply(t, "42", "exact"),
            lambda t: module.score_reply(t, "42", "contains"), lambda t: module.score_reply(t, "A", "choice")]


def time_call(fn: Callable[[str], object], text: str) -> tuple[float, str]:
    """(seconds, "" or the exception's type): an exception is a result too (the old scorer raised on >4,300
    digits)."""
    started = time.perf_counter()
    try:
        fn(text)
        error = ""
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        error = type(exc).__name__
    return time.perf_counter() - started, error


def measure(kind: str, name: str, n: int, module) -> tuple[float, str]:
    text = TEXTS[name][1](n)
    if kind == "sanitiser":
        return time_call(sanitiser(module), text)
    total, errors = 0.0, []
    for fn in scorers(module):
        seconds, error = time_call(fn, text)
        total += seconds
        errors += [error] if error else []
    return total, ",".join(sorted(set(errors)))


def load_from_git(commit: str, path: str, module_name: str):
    """A module's source at a commit, loaded under another name (it imports only the standard library and
    `regex`, so it needs nothing else from that tree)."""
    import types

    source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO_ROOT, capture_output=True, text=True,
                            check=True).stdout
    module = types.ModuleType(module_name)
    sys.modules[module_name] = module  # dataclasses look their module up while the class is created
    exec(compile(source, f"{commit}:{path}", "exec"), module.__dict__)  # noqa: S102 - our own file, from git
    return module


def _child(commit: str, kind: str, name: str, n: int) -> None:
    # Where the module lived at that commit: before the package split it was modelmatch/render.py and
    # modelmatch/eval_scoring.py.
    paths = (("modelmatch/chat/render.py", "modelmatch/render.py") if kind == "sanitiser"
             else ("modelmatch/evals/scoring.py", "modelmatch/eval_scoring.py"))
    path = next(p for p in paths if subprocess.run(["git", "cat-file", "-e", f"{commit}:{p}"], cwd=REPO_ROOT,
                                                   capture_output=True).returncode == 0)
    module = load_from_git(commit, path, f"base_{kind}")
    seconds, error = measure(kind, name, n, module)
    print(json.dumps({"seconds": seconds, "error": error}))


def measure_base(commit: str, kind: str, name: str, n: int, limit_s: float) -> str:
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.adversarial_text", "--child", commit, kind, name, str(n)],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired:
        return f"> {limit_s:g} s"
    if proc.returncode != 0:
        return "failed: " + proc.stderr.strip().splitlines()[-1][:60]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return _shown(result["seconds"], result["error"])


def _shown(seconds: float, error: str) -> str:
    return f"{seconds * 1000:,.1f} ms" + (f" (raised {error})" if error else "")


def _ratio(before: str, after_s: float, limit_s: float) -> str:
    if after_s <= 0:
        return ""
    if before.startswith(">"):
        return f"> {limit_s / after_s:,.0f}x"
    if " ms" not in before:
        return ""
    return f"{float(before.split(' ms')[0].replace(',', '')) / 1000 / after_s:,.0f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=int, default=100, help="size of each text in KB (1,000 characters)")
    parser.add_argument("--base", default="d426879", help="commit to compare with")
    parser.add_argument("--before-limit-s", type=float, default=300.0)
    parser.add_argument("--only", choices=("sanitiser", "scorer"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        commit, kind, name, n = args.child
        _child(commit, kind, name, int(n))
        return 0
    from modelmatch.evals import scoring as eval_scoring
    from modelmatch.chat import render

    n = args.kb * 1000
    print(f"{args.kb} KB adversarial texts; 'before' = commit {args.base}, 'after' = this tree; the scorer row is "
          "the sum of the numeric, exact, contains and choice scorers")
    print(f"{'function':10s} {'text':22s} {'before':>26s} {'after':>12s}  ratio")
    for kind, names, module in (("sanitiser", SANITISER_TEXTS, render), ("scorer", SCORER_TEXTS, eval_scoring)):
        if args.only and args.only != kind:
            continue
        for name in names:
            after_s, after_error = min((measure(kind, name, n, module) for _ in range(3)), key=lambda r: r[0])
            before = measure_base(args.base, kind, name, n, args.before_limit_s)
            ratio = _ratio(before, after_s, args.before_limit_s)
            print(f"{kind:10s} {name:22s} {before:>26s} {_shown(after_s, after_error):>12s}  {ratio}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
