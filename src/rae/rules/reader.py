"""Reading rules files: YAML documents → validated items handed to the `Collector`.

Validation follows Falco's reader: the same checks, in the same order, with the same codes and
messages, so that a file Falco rejects is rejected here for the same reason, and the error
names the same item. YAML is parsed with PyYAML's C loader into nodes (not Python values):
scalars are taken as their source text, as yaml-cpp does (``items: [true]`` is the string
``true``), and every node keeps its line and column for error locations.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from rae.priority import Priority
from rae.rules.collector import (
    Collector,
    ExceptionEntry,
    ExceptionInfo,
    ListInfo,
    MacroInfo,
    RuleInfo,
    RuleUpdate,
)
from rae.rules.errors import LoadMessage, LoadResult, Location, RuleLoadException

__all__ = ["read_rules_content"]

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

_RGX_IDENTIFIER = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
_RGX_BARESTR = re.compile(r"[^()\"'\s=,]+")

_WARNING_APPEND = (
    "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under "
    "'override' instead."
)
_WARNING_ENABLED = (
    "The standalone 'enabled' key usage is deprecated. The correct approach requires also a "
    "'replace' entry under the 'override' key (i.e. 'enabled: replace')."
)
_ERROR_OVERRIDE_APPEND = "Keys 'override' and 'append: true' cannot be used together."

_RULE_APPEND_KEYS = ("condition", "output", "desc", "tags", "exceptions")
_RULE_REPLACE_KEYS = (
    "condition",
    "output",
    "desc",
    "priority",
    "capture",
    "capture_duration",
    "tags",
    "exceptions",
    "enabled",
    "warn_evttypes",
    "skip-if-unknown-filter",
)
_RULE_KEYS = frozenset(
    (
        "rule",
        "condition",
        "output",
        "desc",
        "priority",
        "source",
        "enabled",
        "capture",
        "capture_duration",
        "warn_evttypes",
        "skip-if-unknown-filter",
        "tags",
        "exceptions",
        "override",
        "append",
    )
)

_TRUE = frozenset(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"))
_FALSE = frozenset(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"))


class _Ctx:
    """A location chain under construction (immutable: `child` returns a new one)."""

    __slots__ = ("chain", "file")

    def __init__(self, file: str, chain: tuple[Location, ...]) -> None:
        self.file = file
        self.chain = chain

    def child(self, item_type: str, item_name: str, node: yaml.Node | None) -> _Ctx:
        if node is not None:
            m = node.start_mark
            loc = Location(item_type, item_name, self.file, m.line + 1, m.column + 1, m.index)
        else:
            last = self.chain[-1] if self.chain else Location("", "", self.file)
            loc = Location(item_type, item_name, self.file, last.line, last.column, last.offset)
        return _Ctx(self.file, (*self.chain, loc))

    def fail(self, message: str, code: str = "LOAD_ERR_YAML_VALIDATE") -> RuleLoadException:
        return RuleLoadException(code, message, self.chain)

    def warn(self, result: LoadResult, code: str, message: str) -> None:
        result.add(LoadMessage(code, message, self.chain))


def _is_null(node: yaml.Node | None) -> bool:
    return (
        isinstance(node, yaml.ScalarNode)
        and node.tag == "tag:yaml.org,2002:null"
        and node.value in ("", "~", "null", "Null", "NULL")
    )


def _mapping(node: yaml.MappingNode) -> dict[str, yaml.Node]:
    out: dict[str, yaml.Node] = {}
    for k, v in node.value:
        key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
        out[key] = v
    return out


def _decode_bool(text: str) -> bool | None:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _decode_uint(text: str) -> int | None:
    t = text.strip()
    try:
        v = int(t, 16) if t.lower().startswith("0x") else int(t, 10)
    except ValueError:
        return None
    return v if v >= 0 else None


class _ItemReader:
    """Reads one item mapping; methods mirror Falco's decode helpers."""

    def __init__(self, item: dict[str, yaml.Node], result: LoadResult) -> None:
        self.item = item
        self.result = result

    def scalar(self, key: str, ctx: _Ctx, *, optional: bool = False, can_be_empty: bool = False) -> str | None:
        node = self.item.get(key)
        if node is None:
            if optional:
                return None
            raise ctx.fail(f"Item has no mapping for key '{key}'")
        if _is_null(node):
            if can_be_empty:
                return None
            raise ctx.fail(f"Mapping for key '{key}' is empty")
        if not isinstance(node, yaml.ScalarNode):
            raise ctx.child("value for", key, node).fail("Value is not a scalar value")
        if node.value == "":
            if can_be_empty:
                return None
            raise ctx.child("value for", key, node).fail("Value must be non-empty")
        return str(node.value)

    def boolean(self, key: str, ctx: _Ctx, *, optional: bool = True) -> bool | None:
        text = self.scalar(key, ctx, optional=optional)
        if text is None:
            return None
        v = _decode_bool(text)
        if v is None:
            raise ctx.child("value for", key, self.item[key]).fail("Can't decode YAML scalar value")
        return v

    def uint(self, key: str, ctx: _Ctx, *, optional: bool = True) -> int | None:
        text = self.scalar(key, ctx, optional=optional)
        if text is None:
            return None
        v = _decode_uint(text)
        if v is None:
            raise ctx.child("value for", key, self.item[key]).fail("Can't decode YAML scalar value")
        return v

    def seq(self, key: str, ctx: _Ctx, *, optional: bool) -> list[str] | None:
        node = self.item.get(key)
        if node is None:
            if optional:
                return None
            raise ctx.fail(f"Item has no mapping for key '{key}'")
        if not isinstance(node, yaml.SequenceNode):
            raise ctx.child("value for", key, node).fail("Value is not a sequence")
        out: list[str] = []
        for v in node.value:
            if not isinstance(v, yaml.ScalarNode):
                raise ctx.child("value for", key, node).child("list item", "", v).fail("sequence value is not scalar")
            out.append(str(v.value))
        return out

    def tags(self, ctx: _Ctx) -> list[str] | None:
        return self.seq("tags", ctx, optional=True)

    def overrides(
        self, ctx: _Ctx, can_append: tuple[str, ...], can_replace: tuple[str, ...]
    ) -> tuple[set[str], set[str]]:
        node = self.item.get("override")
        append: set[str] = set()
        replace: set[str] = set()
        if node is None:
            return append, replace
        octx = ctx.child("overrides", "", node)
        if not isinstance(node, yaml.MappingNode):
            raise octx.fail("Value of 'override' must be a mapping")
        for k, v in node.value:
            key = str(k.value)
            op = str(v.value) if isinstance(v, yaml.ScalarNode) else ""
            kctx = octx.child("overrides", key, k)
            if op == "append":
                if key not in can_append:
                    raise kctx.fail(f"Key '{key}' cannot be appended to, use 'replace' instead")
                append.add(key)
            elif op == "replace":
                if key not in can_replace:
                    raise kctx.fail(f"Key '{key}' cannot be replaced")
                replace.add(key)
            else:
                allowed = ("append " if key in can_append else "") + ("replace " if key in can_replace else "")
                raise octx.child("value for", key, v).fail(
                    f"Invalid override operation for key '{key}': '{op}'. Allowed values are: {allowed}"
                )
        return append, replace

    def update_mode(
        self, ctx: _Ctx, can_append: tuple[str, ...], can_replace: tuple[str, ...]
    ) -> tuple[bool, set[str], set[str]]:
        """The legacy ``append: true`` (deprecated: warned) and the `overrides`; not both at once."""
        append = bool(self.boolean("append", ctx))
        if append:
            ctx.warn(self.result, "LOAD_DEPRECATED_ITEM", _WARNING_APPEND)
        o_app, o_rep = self.overrides(ctx, can_append, can_replace)
        if append and (o_app or o_rep):
            raise ctx.fail(_ERROR_OVERRIDE_APPEND)
        return append, o_app, o_rep

    def warn_unknown_keys(self, expected: frozenset[str], ctx: _Ctx) -> None:
        for key in self.item:
            if key not in expected:
                ctx.warn(self.result, "LOAD_UNKNOWN_KEY", f"Unknown key '{key}'. The key will be ignored.")


def _exception_entry(node: yaml.Node, ctx: _Ctx) -> ExceptionEntry:
    if isinstance(node, yaml.ScalarNode):
        if node.value == "" and not _is_null(node):
            raise ctx.fail("Value must be non-empty")
        return ExceptionEntry(False, str(node.value), ())
    if isinstance(node, yaml.SequenceNode):
        items = tuple(_exception_entry(v, ctx.child("exception", "", v)) for v in node.value)
        return ExceptionEntry(True, "", items)
    return ExceptionEntry(False, "", ())


def _read_exceptions(
    reader: _ItemReader, ctx: _Ctx, *, append: bool, result: LoadResult
) -> list[ExceptionInfo] | None:
    node = reader.item.get("exceptions")
    if node is None or _is_null(node):
        return None
    exs_ctx = ctx.child("exceptions", "", node)
    if not isinstance(node, yaml.SequenceNode):
        raise exs_ctx.fail("Rule exceptions must be a sequence")
    out: list[ExceptionInfo] = []
    for ex in node.value:
        tmp = exs_ctx.child("exception", "", ex)
        if not isinstance(ex, yaml.MappingNode):
            raise tmp.fail("Rule exception must be a mapping")
        exmap = _mapping(ex)
        name = _ItemReader(exmap, result).scalar("name", tmp) or ""
        ex_ctx = ctx.child("exception", name, ex)
        if any(e.name == name for e in out):
            ex_ctx.warn(
                result,
                "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
                f"Multiple definitions of exception '{name}' in the same rule",
            )
        fields_node = exmap.get("fields")
        if fields_node is None:
            if not append:
                raise ex_ctx.fail("Item has no mapping for key 'fields'")
            fields = None
        else:
            fields = _exception_entry(fields_node, ex_ctx.child("value for", "fields", fields_node))
        comps_node = exmap.get("comps")
        comps = None if comps_node is None else _exception_entry(
            comps_node, ex_ctx.child("value for", "comps", comps_node)
        )
        values: list[ExceptionEntry] = []
        vals_node = exmap.get("values")
        if vals_node is not None:
            vctx = ex_ctx.child("exception values", "", vals_node)
            if not isinstance(vals_node, yaml.SequenceNode):
                raise vctx.fail("Rule exception values must be a sequence")
            for val in vals_node.value:
                values.append(_exception_entry(val, vctx.child("exception value", "", val)))
        elif append:
            ex_ctx.warn(result, "LOAD_APPEND_NO_VALUES", "Overriding/appending exception with no values")
        out.append(ExceptionInfo(name, fields, comps, values, ex_ctx.chain))
    return out


def _read_item(node: yaml.Node, parent: _Ctx, col: Collector, result: LoadResult) -> None:
    tmp = parent.child("rules content item", "", node)
    if not isinstance(node, yaml.MappingNode):
        raise tmp.fail("Unexpected element type. Each element should be a yaml associative array.")
    item = _mapping(node)
    r = _ItemReader(item, result)

    if "required_engine_version" in item:
        ctx = parent.child("required_engine_version", "", node)
        text = r.scalar("required_engine_version", ctx) or ""
        col.require_engine_version(text, ctx.chain)
        r.warn_unknown_keys(frozenset(("required_engine_version",)), ctx)
        return

    if "required_plugin_versions" in item:
        rpv = item["required_plugin_versions"]
        ctx = parent.child("required_plugin_versions", "", rpv)
        if not isinstance(rpv, yaml.SequenceNode):
            raise ctx.fail("Value of required_plugin_versions must be a sequence")
        for plugin in rpv.value:
            pt = ctx.child("required_plugin_versions entry", "", plugin)
            if not isinstance(plugin, yaml.MappingNode):
                raise pt.fail("Plugin version must be a mapping")
            pmap = _mapping(plugin)
            pr = _ItemReader(pmap, result)
            name = pr.scalar("name", pt) or ""
            pctx = ctx.child("required_plugin_versions entry", name, plugin)
            alternatives = [(name, pr.scalar("version", pctx) or "")]
            alts = pmap.get("alternatives")
            if alts is not None:
                if not isinstance(alts, yaml.SequenceNode):
                    raise pctx.fail("Value of plugin version alternatives must be a sequence")
                for alt in alts.value:
                    at = pctx.child("required_plugin_versions alternative", "", alt)
                    if not isinstance(alt, yaml.MappingNode):
                        raise at.fail("Plugin version alternative must be a mapping")
                    ar = _ItemReader(_mapping(alt), result)
                    aname = ar.scalar("name", at) or ""
                    actx = pctx.child("required_plugin_versions alternative", aname, alt)
                    alternatives.append((aname, ar.scalar("version", actx) or ""))
            col.require_plugin_versions(alternatives, pctx.chain)
        rpv_ctx = parent.child("required_plugin_versions", "", node)
        r.warn_unknown_keys(frozenset(("required_plugin_versions",)), rpv_ctx)
        return

    if "list" in item:
        name = r.scalar("list", parent.child("list", "", node)) or ""
        ctx = parent.child("list", name, node)
        if not _RGX_BARESTR.fullmatch(name):
            ctx.warn(
                result,
                "LOAD_INVALID_LIST_NAME",
                "List has an invalid name. List names should match a regular expression: "
                "([^()\"'[:space:]=,]+)",
            )
        items = r.seq("items", ctx, optional=False) or []
        append, o_app, _ = r.update_mode(ctx, ("items",), ("items",))
        info = ListInfo(name, items, ctx.chain)
        if append or "items" in o_app:
            col.append_list(info, legacy=append)
        else:
            col.define_list(info)
        r.warn_unknown_keys(frozenset(("list", "items", "append", "override")), ctx)
        return

    if "macro" in item:
        name = r.scalar("macro", parent.child("macro", "", node)) or ""
        ctx = parent.child("macro", name, node)
        if not _RGX_IDENTIFIER.fullmatch(name):
            ctx.warn(
                result,
                "LOAD_INVALID_MACRO_NAME",
                "Macro has an invalid name. Macro names should match a regular expression: "
                "([a-zA-Z]+[a-zA-Z0-9_]*)",
            )
        cond = r.scalar("condition", ctx) or ""
        cond_ctx = ctx.child("macro condition", "", item["condition"])
        append, o_app, _ = r.update_mode(ctx, ("condition",), ("condition",))
        minfo = MacroInfo(name, cond, ctx.chain, cond_ctx.chain)
        if append or "condition" in o_app:
            col.append_macro(minfo, legacy=append)
        else:
            col.define_macro(minfo)
        r.warn_unknown_keys(frozenset(("macro", "condition", "append", "override")), ctx)
        return

    if "rule" in item:
        _read_rule(node, item, r, parent, col, result)
        return

    tmp.warn(result, "LOAD_UNKNOWN_ITEM", "Unknown top level item")


def _read_rule(
    node: yaml.Node, item: dict[str, yaml.Node], r: _ItemReader, parent: _Ctx, col: Collector, result: LoadResult
) -> None:
    name = r.scalar("rule", parent.child("rule", "", node)) or ""
    ctx = parent.child("rule", name, node)
    source = r.scalar("source", ctx, optional=True, can_be_empty=True) or ""
    has_append, o_app, o_rep = r.update_mode(ctx, _RULE_APPEND_KEYS, _RULE_REPLACE_KEYS)

    if o_app or o_rep:
        expected = {k for k in (*_RULE_APPEND_KEYS, *_RULE_REPLACE_KEYS) if k in item}
        for mode, keys in (("append", o_app), ("replace", o_rep)):
            if not keys:
                continue
            upd = RuleUpdate(name, source, ctx.chain)
            for key in keys:
                if key not in expected:
                    raise ctx.fail(f"An {mode} override for '{key}' was specified but '{key}' is not defined")
                expected.discard(key)
            if "condition" in keys:
                upd.cond = r.scalar("condition", ctx)
                upd.cond_ctx = ctx.child("rule condition", "", item["condition"]).chain
            if "exceptions" in keys:
                upd.exceptions = _read_exceptions(r, ctx, append=(mode == "append"), result=result) or []
            if "output" in keys:
                upd.output = r.scalar("output", ctx)
                upd.output_ctx = ctx.child("rule output", "", item["output"]).chain
            if "desc" in keys:
                upd.desc = r.scalar("desc", ctx)
            if "tags" in keys:
                upd.tags = r.tags(ctx) or []
            if "priority" in keys:
                upd.priority = _priority(r, ctx, item)
            if "capture" in keys:
                upd.capture = r.boolean("capture", ctx, optional=False)
            if "capture_duration" in keys:
                upd.capture_duration = r.uint("capture_duration", ctx, optional=False)
            if "enabled" in keys:
                upd.enabled = r.boolean("enabled", ctx, optional=False)
            if "warn_evttypes" in keys:
                upd.warn_evttypes = r.boolean("warn_evttypes", ctx, optional=False)
            if "skip-if-unknown-filter" in keys:
                upd.skip_if_unknown_filter = r.boolean("skip-if-unknown-filter", ctx, optional=False)
            if mode == "append":
                col.append_rule(upd, legacy=False)
            else:
                col.replace_rule(upd)
        for key in sorted(expected):
            raise ctx.child("overrides", key, item[key]).fail(
                f"Unexpected key '{key}': no corresponding entry under 'override' is defined."
            )
    elif has_append:
        upd = RuleUpdate(name, source, ctx.chain)
        if "condition" in item:
            upd.cond_ctx = ctx.child("rule condition", "", item["condition"]).chain
            upd.cond = r.scalar("condition", ctx)
        if "exceptions" in item:
            upd.exceptions = _read_exceptions(r, ctx, append=True, result=result)
        col.append_rule(upd, legacy=True)
    elif not any(k in item for k in ("condition", "output", "desc", "priority")):
        enabled = r.boolean("enabled", ctx, optional=False)
        ctx.warn(result, "LOAD_DEPRECATED_ITEM", _WARNING_ENABLED)
        col.enable_rule(name, bool(enabled), ctx.chain)
    else:
        cond = r.scalar("condition", ctx) or ""
        cond_ctx = ctx.child("rule condition", "", item["condition"])
        output = r.scalar("output", ctx) or ""
        output_ctx = ctx.child("rule output", "", item["output"])
        desc = r.scalar("desc", ctx) or ""
        prio = _priority(r, ctx, item)
        info = RuleInfo(
            name=name,
            cond=cond,
            output=output.strip(),
            desc=desc,
            priority=prio,
            source=r.scalar("source", ctx, optional=True) or "syscall",
            enabled=_opt(r.boolean("enabled", ctx), True),
            capture=_opt(r.boolean("capture", ctx), False),
            capture_duration=_opt(r.uint("capture_duration", ctx), 0),
            warn_evttypes=_opt(r.boolean("warn_evttypes", ctx), True),
            skip_if_unknown_filter=_opt(r.boolean("skip-if-unknown-filter", ctx), False),
            tags=set(r.tags(ctx) or ()),
            exceptions=_read_exceptions(r, ctx, append=False, result=result) or [],
            ctx=ctx.chain,
            cond_ctx=cond_ctx.chain,
            output_ctx=output_ctx.chain,
        )
        col.define_rule(info, result)
    r.warn_unknown_keys(_RULE_KEYS, ctx)


def _opt(v: Any, default: Any) -> Any:
    return default if v is None else v


def _priority(r: _ItemReader, ctx: _Ctx, item: dict[str, yaml.Node]) -> Priority:
    text = r.scalar("priority", ctx) or ""
    try:
        return Priority.parse(text)
    except ValueError:
        raise ctx.child("rule priority", "", item["priority"]).fail("Invalid priority") from None


def read_rules_content(content: str, name: str, col: Collector, result: LoadResult) -> bool:
    """Read one file's content into the collector; False (with the error in `result`) on failure."""
    root = _Ctx(name, (Location("rules content", "", name, 0, 0, 0),))
    try:
        loader = _Loader(content)
        try:
            docs: list[yaml.Node] = []
            while loader.check_node():
                n = loader.get_node()
                if n is not None:
                    docs.append(n)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        m = exc.problem_mark or exc.context_mark
        loc = root.chain
        if m is not None:
            loc = (*root.chain[:-1], Location("rules content", "", name, m.line + 1, m.column + 1, m.index))
        problem = exc.problem or str(exc)
        where = f"error at line {m.line + 1}, column {m.column + 1}: " if m is not None else ""
        result.add(LoadMessage("LOAD_ERR_YAML_PARSE", f"{where}{problem}", loc))
        return False
    except yaml.YAMLError as exc:
        result.add(LoadMessage("LOAD_ERR_YAML_PARSE", str(exc).replace("\n", " "), root.chain))
        return False
    try:
        for doc in docs:
            if _is_null(doc):
                continue
            if not isinstance(doc, (yaml.MappingNode, yaml.SequenceNode)):
                raise root.fail("Rules content is not yaml")
            if not isinstance(doc, yaml.SequenceNode):
                raise root.fail("Rules content is not yaml array of objects")
            for it in doc.value:
                if _is_null(it):
                    continue
                _read_item(it, root, col, result)
    except RuleLoadException as exc:
        exc.msg.snippet = _snippet(content, exc.msg.where)
        result.add(exc.msg)
        return False
    return True


def _snippet(content: str, loc: Location) -> str:
    if loc.line <= 0:
        return ""
    lines = content.splitlines()
    if loc.line > len(lines):
        return ""
    return lines[loc.line - 1]
