"""One source of defaults, and ``--help`` that documents every key.

The defaults of the meta-train config (``MetaLearnConfig``, ``distributed.*``) and of
``eval.*`` (``EvalConfig``) are the dataclasses of ``metagan_cli/config.py``; they are
stored in Hydra's ConfigStore as ``meta_train_defaults`` and ``eval_defaults``, the
first entry of the commands' defaults lists.  The YAML files under ``conf/`` hold
options only: which option of each group a command starts from, what each option sets
(``algo/maml.yaml``: ``name: maml``), and the keys of commands without a dataclass
(``checkpoint=``, ``class=``, ...).  ``--help`` lists every key with its documentation:
the comment after a dataclass field, or after a key in a command's YAML file.
"""
from __future__ import annotations

import re
from importlib import resources

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from metagan_cli.config import DistributedConfig, EvalConfig, MetaLearnConfig, documented_keys, to_dict

# the Hydra config of each command: (primary YAML, dataclass sections documented in --help)
SCHEMAS = {
    "meta_train": [(MetaLearnConfig, ""), (DistributedConfig, "distributed.")],
    "eval": [(EvalConfig, "eval.")],
    "compare": [(EvalConfig, "eval.")],
    "adapt": [],
    "sample": [],
}


def register_defaults() -> None:
    """The dataclass defaults as ConfigStore nodes, and the ``metagan_keys`` resolver that
    the help templates call."""
    store = ConfigStore.instance()
    store.store(name="meta_train_defaults",
                node={**to_dict(MetaLearnConfig()), "distributed": to_dict(DistributedConfig())})
    store.store(name="eval_defaults", node={"eval": to_dict(EvalConfig())})
    if not OmegaConf.has_resolver("metagan_keys"):
        OmegaConf.register_new_resolver("metagan_keys", keys_help)


def yaml_comment_docs(text: str) -> dict[str, str]:
    """{dotted key: its trailing comment} of a YAML file of block mappings (the
    ``hydra:`` section and the defaults list excluded)."""
    docs, stack, last = {}, [], None     # stack of (indent, key); the last leaf
    for line in text.splitlines():
        continued = re.match(r"^\s+#(.*)$", line)
        if continued and last is not None:     # an indented comment line continues the last leaf's
            docs[last] = f"{docs[last]} {continued.group(1).strip()}"
            continue
        last = None
        match = re.match(r"^(\s*)([A-Za-z_][\w]*):(.*)$", line)
        if not match:
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [key])
        stack.append((indent, key))
        if path.split(".")[0] in ("hydra", "defaults"):
            continue
        value, _, comment = rest.partition("#")
        if value.strip():               # a leaf: key: value  # comment
            docs[path], last = comment.strip(), path
    return docs


def command_yaml(command: str) -> str:
    return resources.files("metagan_cli.conf").joinpath(f"{command}.yaml").read_text()


def documented(command: str) -> list[tuple[str, str]]:
    """(key, documentation) of every key of ``command``'s config."""
    keys = list(yaml_comment_docs(command_yaml(command)).items())
    for cls, prefix in SCHEMAS[command]:
        keys += documented_keys(cls, prefix)
    return keys


def keys_help(command: str) -> str:
    """The "== Keys ==" section of the help ($ doubled: Hydra fills the template with
    string.Template)."""
    keys = documented(command)
    width = max(len(k) for k, _ in keys)
    return "\n".join(f"{key:<{width}}  {doc}" for key, doc in keys).replace("$", "$$")
