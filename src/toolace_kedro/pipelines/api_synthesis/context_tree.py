"""The API context tree of ToolACE's speciation: domains → sub-domains → functionalities → ...

Each node is a domain or a function, with the documents it came from (provenance). Nodes merge
when they name the same thing under the same parent: names are normalised (case, punctuation,
plural ``s``) and compared by similarity of their character trigrams.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")


def normalise_name(name: str) -> str:
    words = _WORD.findall(name.lower().replace("&", " and "))
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words)


def trigrams(text: str) -> set[str]:
    padded = f"  {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of character trigrams (0..1)."""
    ta, tb = trigrams(a), trigrams(b)
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


@dataclass
class TreeNode:
    id: str
    name: str
    kind: str  # domain | function
    depth: int
    parent: str | None
    documents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


class ContextTree:
    """A forest of domain roots; ``add`` merges near-duplicate siblings."""

    def __init__(self, merge_threshold: float = 0.8) -> None:
        self.nodes: dict[str, TreeNode] = {}
        self.roots: list[str] = []
        self.merge_threshold = merge_threshold

    def add(self, name: str, kind: str, parent: str | None, documents: list[str]) -> TreeNode:
        """Add a node under ``parent`` (a root when None), or merge it into a near-identical
        sibling; ``documents`` are added to the node's provenance."""
        name = " ".join(name.split())
        key = normalise_name(name)
        siblings = self.nodes[parent].children if parent else self.roots
        best, best_score = None, 0.0
        for sibling_id in siblings:
            sibling = self.nodes[sibling_id]
            score = 1.0 if normalise_name(sibling.name) == key else similarity(normalise_name(sibling.name), key)
            if score > best_score:
                best, best_score = sibling, score
        if best is not None and best_score >= self.merge_threshold:
            node = best
            if name != node.name and name not in node.aliases:
                node.aliases.append(name)
        else:
            depth = self.nodes[parent].depth + 1 if parent else 0
            node = TreeNode(id=f"n{len(self.nodes)}", name=name, kind=kind, depth=depth, parent=parent)
            self.nodes[node.id] = node
            siblings.append(node.id)
        node.documents.extend(d for d in documents if d not in node.documents)
        return node

    def path(self, node_id: str) -> list[str]:
        names = []
        current: str | None = node_id
        while current:
            names.append(self.nodes[current].name)
            current = self.nodes[current].parent
        return names[::-1]

    def leaves(self) -> list[TreeNode]:
        return [n for n in self.nodes.values() if not n.children]

    def at_depth(self, depth: int) -> list[TreeNode]:
        return [n for n in self.nodes.values() if n.depth == depth]

    def subtree_ids(self, node_id: str) -> list[str]:
        out, stack = [], [node_id]
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(self.nodes[current].children))
        return out

    def max_depth(self) -> int:
        return max((n.depth for n in self.nodes.values()), default=-1)

    # ------------------------------------------------------------------ adaptation
    def sample_subtree(self, rng: random.Random, size: int, balance_domains: bool = True) -> list[str]:
        """A connected set of ``size`` function nodes (fewer if the tree is smaller): an anchor
        function node, then nodes from its parent's subtree, nearest first, widening upwards.
        With ``balance_domains`` the anchor's domain is drawn uniformly first, so domains with
        many nodes do not crowd out the others."""
        functions = [n.id for n in self.nodes.values() if n.kind == "function"]
        if not functions:
            return []
        if balance_domains:
            by_root: dict[str, list[str]] = {}
            for node_id in functions:
                by_root.setdefault(self.root_of(node_id), []).append(node_id)
            functions = by_root[rng.choice(sorted(by_root, key=lambda r: int(r[1:])))]
        anchor = rng.choice(functions)
        chosen = [anchor]
        scope = self.nodes[anchor].parent or anchor
        while len(chosen) < size and scope:
            pool = [i for i in self.subtree_ids(scope) if self.nodes[i].kind == "function" and i not in chosen]
            rng.shuffle(pool)
            chosen.extend(pool[: size - len(chosen)])
            scope = self.nodes[scope].parent if len(chosen) < size else None
        return chosen

    def root_of(self, node_id: str) -> str:
        while self.nodes[node_id].parent:
            node_id = self.nodes[node_id].parent
        return node_id

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {"merge_threshold": self.merge_threshold, "roots": list(self.roots),
                "nodes": [vars(n) for n in self.nodes.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContextTree:
        tree = cls(data.get("merge_threshold", 0.8))
        for raw in data["nodes"]:
            node = TreeNode(**raw)
            tree.nodes[node.id] = node
        tree.roots = list(data["roots"])
        return tree
