"""The command line of every job: flags derived from the config tree, and one-line errors.

A job names the config sections (or single fields of a section) it takes; each field becomes a
flag with the help text, choices and default written in config/schema.py, so no setting is listed twice.
Flags default to "not given": only the flags a user passes override the layered config
(defaults < the job's defaults < dataset preset < --config file < flags).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn

import yaml

from ..config import (EXPERIMENT_SECTIONS, SECTIONS, JobConfig, RunConfig, base_type,
                     build_config, external_name, flag_of, preset_differences)
from ..foundations.errors import UserError
from ..runs.folder import resumed_layer
from ..foundations.signals import SIGTERM_EXIT, handle_sigterm, interrupt_behind, was_terminated

USER_ERROR_EXIT = 2


@dataclass(frozen=True)
class JobFlags:
    """What one job's command line holds."""
    script: str  # jobs/<script>; also the smoot-<name> console command
    description: str
    # Each entry: "section" (all its fields) or ("section", "field", ...) (those fields only).
    sections: tuple[str | tuple[str, ...], ...]
    config_file: bool = False  # --config FILE.yaml
    flags: dict[str, str] = field(default_factory=dict)  # "section.field" -> this job's flag
    # This job's own defaults, over the dataclasses' ({section: {field: value}}).
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2, as argparse does)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)


def _selected(job: JobFlags) -> list[tuple[str, dataclasses.Field]]:
    out = []
    for entry in job.sections:
        section, *names = (entry,) if isinstance(entry, str) else entry
        fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
        out += [(section, fields[n]) for n in (names or [n for n, f in fields.items()
                                                          if not f.metadata.get("internal")])]
    return out


def _help(section: str, f: dataclasses.Field, job: JobFlags, presets: dict) -> str:
    """The field's help, then its choices, its default and where a dataset preset differs."""
    parts = [" | ".join(map(str, f.metadata["choices"]))] if f.metadata.get("choices") else []
    default = job.defaults.get(section, {}).get(f.name, f.default)
    if default is not None and not isinstance(default, bool):
        parts.append(f"default: {default}")
    parts += [f"{', '.join(datasets)} preset{'s' * (len(datasets) > 1)}: {value}"
              for value, datasets in presets.get((section, f.name), {}).items()]
    text = _registered(f.metadata.get("help", "")) + (f" ({'; '.join(parts)})" if parts else "")
    return text.replace("%", "%%")  # argparse formats help with %


def _registered(text: str) -> str:
    """A help text with the registries' names filled in ({metrics}, {metric_names},
    {attributions}): --help lists what is declared, a metric or method added included."""
    if not any(p in text for p in ("{metrics}", "{metric_names}", "{attributions}")):
        return text
    from ..attribution import attribution_methods  # torch: only for the jobs that list them
    from ..metrics import help_line, metric_names

    return (text.replace("{metrics}", help_line())
            .replace("{metric_names}", ", ".join(metric_names()))
            .replace("{attributions}", ", ".join(attribution_methods())))


def _add(group, section: str, f: dataclasses.Field, job: JobFlags, presets: dict) -> None:
    meta, dest = f.metadata, f"{section}.{f.name}"
    base, _optional = base_type(section, f.name)
    kwargs: dict[str, Any] = {"help": _help(section, f, job, presets)}
    if base is bool and meta.get("names"):  # --resume, or --resume RUN (a str: the run's name)
        group.add_argument(job.flags.get(dest, flag_of(f)), dest=dest, nargs="?", const=True,
                           default=None, metavar=meta.get("metavar"), **kwargs)
        return
    if base is bool:
        # A switch sets the opposite of the default: --compile turns on, --no-tracking off.
        group.add_argument(job.flags.get(dest, flag_of(f)), dest=dest, action="store_const",
                           const=not f.default, default=None, **kwargs)
        return
    kwargs["type"] = str if base is list else base
    if meta.get("upper"):  # N or MIN:MAX; MAX goes to the field named by `upper`
        kwargs["type"] = _int_or_range
    if meta.get("nargs"):
        kwargs["nargs"] = meta["nargs"]
    if meta.get("action"):
        kwargs["action"] = meta["action"]
    if meta.get("positional"):
        group.add_argument(dest, metavar=meta.get("metavar", external_name(f)), **kwargs)
        return
    flag = job.flags.get(dest, flag_of(f))
    metavar = meta.get("metavar", flag.lstrip("-").upper().replace("-", "_"))
    group.add_argument(flag, dest=dest, default=None, metavar=metavar, **kwargs)


def _int_or_range(text: str) -> tuple[int, int | None]:
    low, sep, high = text.partition(":")
    try:
        return int(low), int(high) if sep else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN:MAX (whole numbers), got {text!r}") from None


def _prog(job: JobFlags) -> str:
    invoked = os.path.basename(sys.argv[0])
    return invoked if invoked.startswith("smoot-") else f"jobs/{job.script}"


def build_parser(job: JobFlags) -> OneLineParser:
    parser = OneLineParser(prog=_prog(job), description=job.description,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    if job.config_file:
        parser.add_argument("--config", metavar="FILE.yaml",
                            help="YAML config (sections " + "/".join(EXPERIMENT_SECTIONS)
                                 + "/run/tracking); flags override it")
    presets = preset_differences()
    groups: dict[str, Any] = {}
    for section, f in _selected(job):
        positional = f.metadata.get("positional")
        group = parser if positional else groups.setdefault(
            section, parser.add_argument_group(section))
        _add(group, section, f, job, presets)
    return parser


def overrides_from_args(job: JobFlags, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The flags a user passed, as a config layer."""
    out: dict[str, dict[str, Any]] = {}
    for section, f in _selected(job):
        value = getattr(args, f"{section}.{f.name}")
        if isinstance(value, tuple):  # N or MIN:MAX
            # N alone clears MAX too: `--resume --workers 1` of an elastic run means 1 worker,
            # not the MIN of the MIN:MAX it recorded
            value, upper = value
            out.setdefault(section, {})[f.metadata["upper"]] = upper
        if f.metadata.get("names") and isinstance(value, str):  # --resume RUN
            named = f.metadata["names"]
            other = getattr(args, f"{section}.{named}", None)
            if other is not None and other != value:  # --resume A --run-name B: which one?
                raise UserError(f"{flag_of(f)} {value} and --{named.replace('_', '-')} {other} "
                                f"name two runs; {flag_of(f)} RUN continues RUN under its own "
                                f"name: drop one of them")
            out.setdefault(section, {})[named] = value
            value = True
        if value is not None:
            out.setdefault(section, {})[f.name] = value
    return out


def _sections(job: JobFlags) -> tuple[str, ...]:
    return tuple(dict.fromkeys(section for section, _ in _selected(job)))


def parse(job: JobFlags, argv: list[str] | None = None) -> JobConfig:
    """The job's config from its command line (layered and validated); progress bars resolved.
    With --print-config: print that config (the job's sections, as YAML) and exit."""
    parser = build_parser(job)
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config (defaults < preset < --config < flags) "
                             "as YAML, and exit without running")
    args = parser.parse_args(argv)
    overrides = overrides_from_args(job, args)
    cfg = build_config(getattr(args, "config", None), overrides, job.defaults,
                       _resumed(overrides, getattr(args, "config", None)))
    if args.print_config:
        print(yaml.safe_dump(cfg.to_dict(_sections(job)), sort_keys=False), end="")
        sys.exit(0)
    return dataclasses.replace(cfg, run=resolve_progress(cfg.run))


def _resumed(overrides: dict[str, dict[str, Any]], config_file: str | None
             ) -> tuple[str, dict[str, Any]] | None:
    """--resume [RUN]: the run's recorded config, as the layer under the flags."""
    run = overrides.get("run", {})
    if not run.get("resume"):
        return None
    if config_file:
        raise UserError("--resume continues a run with the config it recorded; drop --config "
                        "(flags may still change epochs, workers, storage and tracking)")
    return resumed_layer(run.get("storage_path"), run.get("run_name"))


def show_progress(wanted: bool = True) -> bool:
    """Progress bars only on a terminal: in logs (Ray jobs, CI, pipes) they are noise, and
    stderr stays free for the one line that says what went wrong."""
    return wanted and sys.stderr.isatty()


def resolve_progress(run: RunConfig) -> RunConfig:
    """`progress` (wanted unless --no-progress) becomes a bar on a terminal, and lines in a log
    (`progress_lines`: about every 10% of an epoch) where there is none."""
    bar = show_progress(run.progress)
    return dataclasses.replace(run, progress=bar, progress_lines=run.progress and not bar)


def command(job: JobFlags, body: Callable[[JobConfig], int | None]
            ) -> Callable[[list[str] | None], None]:
    """A job's entry point (jobs/<script> and the smoot-* command): parse its flags into the
    config, run `body` on it; user errors are one line and exit code 2."""
    def main(argv: list[str] | None = None) -> None:
        run_cli(lambda: body(parse(job, argv)))
    return main


def run_cli(main: Callable[[], int | None]) -> None:
    """Run `main`; a UserError becomes one line on stderr and exit code 2; Ctrl-C and SIGTERM
    stop it the same way (foundations/signals.py), with exit codes 130 and 143."""
    handle_sigterm()
    try:
        code = main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (foundations/signals.py)
        _interrupted(err)
    except ImportError as err:  # an interrupt inside an import can come out as one
        interrupt = interrupt_behind(err)
        if interrupt is None:
            raise
        _interrupted(interrupt)
    sys.exit(code or 0)


def _interrupted(err: KeyboardInterrupt) -> NoReturn:
    if was_terminated(err):
        print("interrupted (SIGTERM)", file=sys.stderr)
        sys.exit(SIGTERM_EXIT)
    print("interrupted", file=sys.stderr)
    sys.exit(130)
