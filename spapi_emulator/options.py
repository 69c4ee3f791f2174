"""Declared options: one field of a frozen config dataclass is its flag, its help and its docs.

A field declared with ``option(default, help, section, ...)`` carries an ``Option`` in its
metadata. From it ``add_arguments`` builds the command-line flag (``--field-name``; a flag
that is on by default is turned off with ``--no-field-name``), ``from_arguments`` builds the
config from the parsed flags, and ``reference`` lists every option for --help and
docs/emulator.md (scripts/generate_docs.py). ``python_only`` declares a field with no flag
(callables, tables, test hooks). Adding a switch to the emulator is one declared field.
"""

from __future__ import annotations

import enum
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping

    from _typeshed import DataclassInstance

T = TypeVar("T")

_OPTION: Final = "spapi_emulator.option"


@dataclass(frozen=True, kw_only=True)
class Option:
    """What the command line and the docs need of one config field.

    Attributes:
        help: What the field does, for --help and docs/emulator.md.
        section: The group of --help and of the docs it is listed in.
        flag: False for a field that is set from Python only.
        parse: Turns the flag's text into the value; by default the type of the default
            (``int``, ``float``, ``str``; an enum's values are the choices).
        metavar: The placeholder --help shows for the value.
        show: How the default reads in --help and the docs; ``str`` by default.
        from_flag: Turns the parsed flag into the field's value, given every parsed flag by
            field name (``--selling-partners N`` becomes N partners numbered from the seed).
        flag_default: The flag's own default when it is not the field's (``from_flag``).

    """

    help: str
    section: enum.Enum
    flag: bool = True
    parse: Callable[[str], Any] | None = None
    metavar: str | None = None
    show: Callable[[Any], str] = str
    from_flag: Callable[[Any, Mapping[str, Any]], Any] | None = None
    flag_default: Any = None


@dataclass(frozen=True)
class Described:
    """One declared field as --help and the docs show it.

    Attributes:
        name: The field's name (``EmulatorConfig(name=...)``).
        flag: The command-line flag, or None for a field set from Python only.
        default: The default as text: "on" or "off" for a switch, "" for none or a table.
        option: The declaration.

    """

    name: str
    flag: str | None
    default: str
    option: Option


def option(  # noqa: PLR0913 - the parts of one declared option
    default: T,
    help: str,  # noqa: A002 - argparse's word for it
    section: enum.Enum,
    *,
    parse: Callable[[str], Any] | None = None,
    metavar: str | None = None,
    show: Callable[[Any], str] = str,
    from_flag: Callable[[Any, Mapping[str, Any]], Any] | None = None,
    flag_default: object = None,
) -> T:
    """A config field with its command-line flag (see the module docstring)."""
    declared = Option(
        help=help,
        section=section,
        parse=parse,
        metavar=metavar,
        show=show,
        from_flag=from_flag,
        flag_default=flag_default,
    )
    return field(default=default, metadata={_OPTION: declared})


def python_only(
    help: str,  # noqa: A002 - argparse's word for it
    section: enum.Enum,
    *,
    default: T | None = None,
    factory: Callable[[], T] | None = None,
) -> T:
    """A config field without a flag: set with ``EmulatorConfig(...)`` or ``reconfigure``."""
    declared = Option(help=help, section=section, flag=False)
    if factory is not None:
        return field(default_factory=factory, metadata={_OPTION: declared})
    return cast("T", field(default=default, metadata={_OPTION: declared}))


def declared_fields(config_class: type) -> list[tuple[Field[Any], Option]]:
    """Every declared field of a config dataclass and its option, in field order.

    Raises:
        TypeError: A field is declared with neither ``option`` nor ``python_only``.

    """
    declared: list[tuple[Field[Any], Option]] = []
    for spec in fields(config_class):
        if _OPTION not in spec.metadata:
            message = (
                f"{config_class.__name__}.{spec.name}: declare it with option() or python_only()"
            )
            raise TypeError(message)
        declared.append((spec, spec.metadata[_OPTION]))
    return declared


def flag_name(spec: Field[Any]) -> str:
    """``--field-name``, or ``--no-field-name`` for a flag that is on by default."""
    name = spec.name.replace("_", "-")
    return f"--no-{name}" if spec.default is True else f"--{name}"


def reference(config_class: type) -> list[Described]:
    """Every declared field as --help and the docs show it, in field order."""
    described: list[Described] = []
    for spec, declared in declared_fields(config_class):
        default = _flag_default(spec, declared) if declared.flag else _default_of(spec)
        if isinstance(default, bool):
            shown = "on" if default else "off"
        elif default is None or isinstance(default, dict):
            shown = ""  # unset, or a table the help describes
        else:
            shown = declared.show(default)
        flag = flag_name(spec) if declared.flag else None
        described.append(Described(spec.name, flag, shown, declared))
    return described


def add_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Add a flag for every declared field of ``config_class``, grouped by section."""
    groups: dict[enum.Enum, argparse._ArgumentGroup] = {}
    for spec, declared in declared_fields(config_class):
        if not declared.flag:
            continue
        section = declared.section
        if section not in groups:
            groups[section] = parser.add_argument_group(str(section.value))
        _add_argument(groups[section], spec, declared)


def from_arguments(config_class: type[T], arguments: argparse.Namespace) -> T:
    """The config the parsed flags describe; fields without a flag keep their defaults."""
    parsed = {
        spec.name: getattr(arguments, spec.name)
        for spec, declared in declared_fields(config_class)
        if declared.flag
    }
    values = dict(parsed)
    for spec, declared in declared_fields(config_class):
        if declared.flag and declared.from_flag is not None:
            values[spec.name] = declared.from_flag(parsed[spec.name], parsed)
    return config_class(**values)


def coerce_choices(config: DataclassInstance) -> None:
    """Turn the text of every enum field of a frozen dataclass into its member.

    A field whose default is an enum member takes that enum's values, given as members or as
    their text (``document_body="xml"``).

    Raises:
        ValueError: A value that is none of them, naming the field and the choices.

    """
    for spec in fields(config):
        if not isinstance(spec.default, enum.Enum):
            continue
        kind = type(spec.default)
        value = getattr(config, spec.name)
        try:
            member = kind(value)
        except ValueError:
            choices = ", ".join(str(m.value) for m in kind)
            raise ValueError(f"{spec.name} must be one of {choices}") from None
        object.__setattr__(config, spec.name, member)


def _add_argument(group: argparse._ArgumentGroup, spec: Field[Any], declared: Option) -> None:
    default = _flag_default(spec, declared)
    common: dict[str, Any] = {"dest": spec.name, "help": _escaped(declared.help)}
    if isinstance(default, bool):
        if default:
            common["help"] += " On by default; this flag turns it off."
        action = "store_false" if default else "store_true"
        group.add_argument(flag_name(spec), action=action, **common)
        return
    if default is not None:
        common["help"] += f" (default: {_escaped(declared.show(default))})"
    if declared.metavar is not None:
        common["metavar"] = declared.metavar
    if isinstance(default, enum.Enum):
        choices = [str(member.value) for member in type(default)]
        group.add_argument(flag_name(spec), choices=choices, default=default, **common)
        return
    parse = declared.parse or _parser_of(default)
    group.add_argument(flag_name(spec), type=parse, default=default, **common)


def _parser_of(default: object) -> Callable[[str], Any]:
    """The flag's parser from the type of the field's default: int, float or str."""
    for kind in (int, float, str):
        if type(default) is kind:
            return kind
    message = f"give an option whose default is {type(default).__name__} a parse= function"
    raise TypeError(message)


def _default_of(spec: Field[Any]) -> Any:  # noqa: ANN401 - a field's default, of any type
    if spec.default is not MISSING:
        return spec.default
    if spec.default_factory is not MISSING:
        return spec.default_factory()
    return None


def _flag_default(spec: Field[Any], declared: Option) -> Any:  # noqa: ANN401 - of any type
    """The flag's default: the field's, or ``flag_default`` when the flag is converted."""
    return _default_of(spec) if declared.from_flag is None else declared.flag_default


def _escaped(text: str) -> str:
    """Help text as argparse takes it (it formats help with %)."""
    return text.replace("%", "%%")
