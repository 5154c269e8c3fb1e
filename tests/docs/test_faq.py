"""docs/faq.md follows the code: each bad input below makes kubeloop print (or raise) its message,
the FAQ has a heading matching that message, and every message heading of the FAQ is produced by
one of these inputs (a heading no input produces is stale)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import kubeloop as kl
from kubeloop import crd
from kubeloop.cli.main import cli

FAQ = Path(__file__).parents[2] / "docs" / "faq.md"
# A heading that is a message: ### `text`, where … stands for the varying part.
HEADING = re.compile(r"^### `(.+)`$", re.M)


def faq_patterns() -> dict[str, re.Pattern[str]]:
    headings = HEADING.findall(FAQ.read_text())
    return {h: re.compile(".*?".join(re.escape(part) for part in h.split("…")), re.S) for h in headings}


# -- the bad inputs ------------------------------------------------------------------------------


def cli_error(*args: str, env: dict[str, str] | None = None) -> str:
    """The message of ``kubeloop ARGS`` failing: its first ``Error:`` line, without the prefix."""
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code in (1, 2), f"kubeloop {' '.join(args)} did not fail: {result.output}"
    line = next((ln for ln in result.output.splitlines() if ln.startswith("Error: ")), None)
    assert line is not None, f"kubeloop {' '.join(args)} printed no error: {result.output}"
    return line.removeprefix("Error: ")


def raised(declare: Callable[[], object]) -> str:
    """The message of the exception that ``declare`` raises."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 -- each case checks its own message below
        declare()
    return str(caught.value)


class Spec(crd.Model):
    size: int = 1


def resource(spec: type[crd.Model] = Spec, **options: object) -> type[crd.CustomResource]:
    kwargs = {"group": "faq.example.com", "version": "v1", **options}

    @crd.resource(**kwargs)  # type: ignore[arg-type]
    class Sample(crd.CustomResource):
        spec: Spec

    Sample.model_fields["spec"].annotation = spec
    Sample.model_rebuild(force=True)
    return Sample


class Union(crd.Model):
    x: int | list[int]


class Node(crd.Model):
    child: Node | None = None


class Pair(crd.Model):
    x: tuple[int, str]


API = ("create", "api", "--group", "app", "--version", "v1", "--kind")


def in_project(*args: str, after: tuple[str, ...] = ()) -> Callable[[], str]:
    """``kubeloop ARGS`` failing in a fresh project (where ``kubeloop AFTER`` ran first)."""

    def run() -> str:
        for step in (("init", "--domain", "example.com", "--project-name", "faq"), after):
            if step:
                assert CliRunner().invoke(cli, list(step)).exit_code == 0, step
        return cli_error(*args)

    return run


def finalizer_first() -> None:
    operator = kl.Operator("faq")

    @operator.finalize(resource())
    async def cleanup(obj: object, ctx: kl.Context) -> None: ...


def reconcile_of(kind: object) -> Callable[[], None]:
    def declare() -> None:
        operator = kl.Operator("faq")
        operator.reconcile(kind)  # type: ignore[arg-type]

    return declare


def two_defaulters() -> None:
    operator = kl.Operator("faq")
    kind = resource()
    operator.default(kind)(lambda obj, request: None)
    operator.default(kind)(lambda obj, request: None)


def conflicting_file() -> str:
    Path("README.md").write_text("# mine\n")
    return cli_error("init", "--domain", "example.com", "--project-name", "faq")


def foreign_project() -> str:
    Path("PROJECT").write_text("domain: example.com\nlayout:\n- go.kubebuilder.io/v4\nprojectName: faq\n")
    return cli_error("create", "api", "--group", "app", "--version", "v1", "--kind", "Foo")


def bad_directory_name() -> str:
    here = Path.cwd()
    (here / "Bad").mkdir()
    os.chdir(here / "Bad")
    try:
        return cli_error("init", "--domain", "example.com")
    finally:
        os.chdir(here)


def run_without_cluster(*options: str) -> Callable[[], str]:
    """``kubeloop run`` of a real operator, with no kubeconfig anywhere (or a missing one named)."""

    def run() -> str:
        Path("faq_target.py").write_text("import kubeloop as kl\noperator = kl.Operator('faq')\n")
        return cli_error("run", "faq_target:operator", *options, env={"HOME": str(Path.cwd())})

    return run


CASES: dict[str, Callable[[], str]] = {
    "init: bad domain": lambda: cli_error("init", "--domain", "Bad_Domain"),
    "init: directory name not a label": bad_directory_name,
    "init: name starts with a digit": lambda: cli_error(
        "init", "--domain", "example.com", "--project-name", "1op"
    ),
    "init: file in the way": conflicting_file,
    "create api: no project": lambda: cli_error(
        "create", "api", "--group", "a", "--version", "v1", "--kind", "A"
    ),
    "create api: foreign PROJECT": foreign_project,
    "create api: bad group": in_project("create", "api", "--group", "App", "--version", "v1", "--kind", "A"),
    "create api: bad version": in_project("create", "api", "--group", "app", "--version", "1", "--kind", "A"),
    "create api: kind not camel": in_project(*API, "app"),
    "create api: kind a keyword": in_project(*API, "Class"),
    "create api: twice": in_project(*API, "A", after=(*API, "A")),
    "create api: nothing": in_project(*API, "A", "--no-resource", "--no-controller"),
    "create webhook: no resource": in_project(
        "create", "webhook", "--group", "app", "--version", "v1", "--kind", "A", "--defaulting"
    ),
    "create webhook: no kind of webhook": in_project(
        "create", "webhook", "--group", "app", "--version", "v1", "--kind", "A", after=(*API, "A")
    ),
    "run: module missing": lambda: cli_error("run", "faq_no_such_module:operator"),
    "run: not an operator": lambda: cli_error("run", "json:dumps"),
    "run: a file": lambda: cli_error("run", "src/faq_pkg/operator.py"),
    "run: module without an operator": lambda: cli_error("run", "json"),
    "run: no kubeconfig": run_without_cluster(),
    "run: kubeconfig missing": run_without_cluster("--kubeconfig", "missing.kubeconfig"),
    "dev: --data with controlplane": lambda: cli_error("dev", "--cluster", "controlplane", "--data", "x"),
    "generate: unknown manifest": lambda: cli_error("generate", "nothing", "json:dumps"),
    "controlplane: no go": lambda: cli_error(
        "controlplane", "build", env={"PATH": "/nonexistent", "KUBELOOP_CACHE_DIR": str(Path.cwd())}
    ),
    "controlplane: no binary": lambda: cli_error(
        "controlplane", "up", env={"KUBELOOP_CACHE_DIR": str(Path.cwd()), "KUBEBUILDER_ASSETS": ""}
    ),
    "crd: group without a dot": lambda: raised(lambda: resource(group="example")),
    "crd: version upper case": lambda: raised(lambda: resource(version="V1")),
    "crd: scope": lambda: raised(lambda: resource(scope="Global")),
    "crd: undecorated": lambda: raised(lambda: crd.to_crd(type("Loose", (crd.CustomResource,), {}))),
    "crd: union": lambda: raised(lambda: crd.to_crd(resource(Union))),
    "crd: recursive": lambda: raised(lambda: crd.to_crd(resource(Node))),
    "crd: tuple": lambda: raised(lambda: crd.to_crd(resource(Pair))),
    "crd: printer column": lambda: raised(lambda: crd.to_crd(resource(printer_columns={"X": ".spec.nope"}))),
    "operator: finalizer first": lambda: raised(finalizer_first),
    "operator: kind string": lambda: raised(reconcile_of("Deployment")),
    "operator: not a kind": lambda: raised(reconcile_of(42)),
    "operator: two defaulting webhooks": lambda: raised(two_defaulters),
}


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every case's message, each made in an empty directory of its own."""
    produced = {}
    with pytest.MonkeyPatch.context() as patch:
        for case, make in CASES.items():
            patch.chdir(tmp_path_factory.mktemp("faq"))
            patch.syspath_prepend(str(Path.cwd()))
            for variable in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBELOOP_SOURCE"):
                patch.delenv(variable, raising=False)
            produced[case] = make().splitlines()[0]
    return produced


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_faq_explains_the_message(case: str, messages: dict[str, str]) -> None:
    message = messages[case]
    matching = [h for h, pattern in faq_patterns().items() if pattern.fullmatch(message)]
    assert matching, f"docs/faq.md has no heading for {message!r} ({case})"


def test_every_faq_message_is_produced(messages: dict[str, str]) -> None:
    stale = [
        h for h, pattern in faq_patterns().items() if not any(pattern.fullmatch(m) for m in messages.values())
    ]
    assert not stale, f"no bad input produces these docs/faq.md headings: {stale}"
