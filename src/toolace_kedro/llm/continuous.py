"""Continuous batching for in-process generation, with a grammar per row.

``transformers``' ``generate`` runs a static batch until its longest row is done: on a CPU, where
one decode step of 16 rows costs ~2.5x a step of one row, rows that finished early keep costing
until the last one ends, and every request re-reads its whole prompt. This decoder keeps up to
``max_batch`` rows decoding and refills freed slots from the queue as rows finish:

* **prefill** of newly admitted prompts runs in sub-batches (left-padded, explicit positions,
  logits of the last position only; prompts of similar length grouped so that the padding
  computed costs less than the extra passes would, :func:`first_chunk`), optionally on a second
  copy of the model in another dtype (a bfloat16 copy of a float32 model: bf16 prompt processing
  is much faster than float32 on CPUs with AVX512-BF16); identical prompts (the n samples of
  self-consistency) are prefilled once and their cache rows copied;
* **prompt prefix reuse**: the prompt cache rows of recent prompts are kept (bounded by
  ``prefix_cache_tokens``); a new prompt that starts like one of them (the same system prompt and
  tool list, the same worked example, the earlier turns of its own dialog) is prefilled from the
  end of the longest shared prefix only;
* **decode** runs one token for every active row per step, with the KV cache kept in
  preallocated slabs (``DynamicLayer`` concatenates -- copies -- the whole cache every step);
* a request is admitted only while the rows' prompt + ``max_tokens`` positions stay within
  ``max_batch_tokens`` (the cache of long prompts, e.g. BFCL's many-function ones, bounds memory,
  not ``max_batch``); a request longer than that decodes alone;
* a *refill*, done only when enough rows finished, writes newly prefilled rows into the slots
  of finished ones in place (right-aligned, their left columns masked) when they fit the cache's
  width; otherwise (or once the leading columns no row needs reach a quarter of the cache) a
  *rebuild* evicts the finished rows and merges all rows into new slabs (left-padded to a
  common length, leading columns that every row masks dropped) -- a copy of the whole cache;
* every row has its own xgrammar matcher (or none), temperature, top-p and seeded generator: a
  request's tokens do not depend on which other requests shared its batch (up to float
  rounding).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.cache_utils import Cache

from toolace_kedro.llm.slab_cache import SlabLayer, left_pad_mask, merge_into_slabs

__all__ = ["GenRequest", "ContinuousBatcher", "sample_rows"]

TOP_K = 256
#: what one more prefill forward pass costs, in prompt positions: a pass has a fixed cost before
#: its first position, so padding a short prompt up to a long one is worth a pass of its own only
#: beyond this many positions (measured for the embedded model on a CPU; benchmarks/README.md)
PASS_POSITIONS = 64

logger = logging.getLogger(__name__)


def sample_rows(logits: torch.Tensor, temperatures: float | Sequence[float], top_ps: float | Sequence[float],
                generators: Sequence[torch.Generator], top_k: int = TOP_K) -> torch.Tensor:
    """Draw one token id for each row of ``logits`` (``[rows, vocab]``), returned as a 1-D tensor.

    Only a row's ``top_k`` highest logits are considered: sorting the whole vocabulary for every
    row at every step is expensive, and the tail past the ``top_k`` best tokens almost never
    matters. Those logits are divided by the row's temperature and turned into probabilities;
    the nucleus (top-p) cut then zeroes every token whose predecessors in that ranking already
    hold more than ``top_p`` of the mass (so the likeliest token always survives), and one token
    is drawn with ``torch.multinomial`` from the row's own ``generators[n]``. A row's draw thus
    depends only on its logits, settings and generator, never on the other rows of the batch.

    ``temperatures`` and ``top_ps`` are either one number shared by every row or one number per
    row. Temperatures must be positive: greedy (temperature 0) decoding is the caller's business.
    """
    top, ids = (logits / _per_row(temperatures)).topk(min(top_k, logits.shape[-1]), dim=-1)
    probs = torch.softmax(top, dim=-1)
    probs[(probs.cumsum(-1) - probs) > _per_row(top_ps)] = 0
    return torch.stack([ids[n, torch.multinomial(probs[n], 1, generator=generator)]
                        for n, generator in enumerate(generators)]).view(-1)


def _per_row(value: float | Sequence[float]) -> float | torch.Tensor:
    """A shared number as is; per-row numbers as a ``[rows, 1]`` column that broadcasts over a row."""
    return value if isinstance(value, (int, float)) else torch.tensor(list(value)).unsqueeze(1)


@dataclass
class GenRequest:
    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None  # random stream of this request (None: derived from its queue item)
    grammar: Any = None  # a compiled xgrammar grammar, or None
    stop: list[str] | None = None
    stop_when: Callable[[str], bool] | None = None  # ends the row once true of the text so far


@dataclass
class _Row:
    item: Any
    request: GenRequest
    matcher: Any
    generator: torch.Generator | None
    position: int  # position id of the next token fed
    tokens: list[int] = field(default_factory=list)
    done: bool = False
    truncated: bool = False
    reported: bool = False


def first_chunk(lengths: Sequence[int], budget: int, pass_positions: int) -> int:
    """How many of the prompt suffixes ``lengths`` (sorted longest first) the next prefill pass
    takes. A pass computes rows x longest positions (the shorter rows are padded) and costs
    about ``pass_positions`` positions more on its own; the suffixes are split into consecutive
    groups of at most ``budget`` computed positions each so that the sum of those costs is
    least (dynamic programming over the split points), and the first group's size returned."""
    n = len(lengths)
    best = [0.0] * (n + 1)  # best[i]: least cost of the suffixes i.. (the groups after a split)
    take = [1] * (n + 1)
    for i in range(n - 1, -1, -1):
        best[i] = float("inf")
        for k in range(1, n - i + 1):
            if k > 1 and k * lengths[i] > budget:
                break
            cost = pass_positions + k * lengths[i] + best[i + k]
            if cost <= best[i]:  # (ties: the larger group)
                best[i], take[i] = cost, k
    return take[0] if n else 0


class PrefixStore:
    """Prompt cache rows of recent prompts, for prompts that start the same way.

    Entries are ``prompt ids -> [(keys, values) per layer]``, each ``[heads, length, dim]`` of one
    row (held in the prefill model's dtype), least recently used dropped first once they hold
    more than ``max_tokens`` positions. A lookup returns the longest prefix a new prompt shares
    with any entry; cache rows depend only on the tokens before them, so that many leading
    positions of the entry's rows are the new prompt's own."""

    def __init__(self, max_tokens: int, min_tokens: int = 16) -> None:
        self.max_tokens = max_tokens
        self.min_tokens = min_tokens  # shorter shared prefixes are recomputed: not worth a copy
        self._entries: OrderedDict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self._held = 0

    def __len__(self) -> int:
        return len(self._entries)

    def longest(self, ids: tuple[int, ...]) -> tuple[int, list[tuple[torch.Tensor, torch.Tensor]] | None]:
        """``(n, layers)``: the longest stored prefix of ``ids`` (at most ``len(ids) - 1`` tokens, so
        one is left to compute the next-token logits from) and the rows holding it."""
        best, found, key = 0, None, None
        limit = len(ids) - 1
        for stored, layers in self._entries.items():
            n = min(limit, len(stored))
            if n <= best or stored[:best + 1] != ids[:best + 1]:
                continue
            shared = _common_prefix(stored, ids, best + 1, n)
            if shared > best:
                best, found, key = shared, layers, stored
        if best < self.min_tokens:
            return 0, None
        self._entries.move_to_end(key)
        return best, found

    def add(self, ids: tuple[int, ...], layers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        if len(ids) > self.max_tokens or ids in self._entries:
            return
        self._entries[ids] = layers
        self._held += len(ids)
        while self._held > self.max_tokens:
            old, _ = self._entries.popitem(last=False)
            self._held -= len(old)


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...], low: int, high: int) -> int:
    """Length of the common prefix of ``a`` and ``b``, known to be in ``[low, high]`` (binary search
    over slice comparisons, which run in C)."""
    while low < high:
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


class ContinuousBatcher:
    """Generate token ids for many requests with continuous batching (see module docstring)."""

    def __init__(self, model: Any, stop_ids: set[int], pad_id: int, max_batch: int = 32,
                 prefill_model: Any = None, prefill_tokens: int = 2048, spare: int = 96,
                 prefix_cache_tokens: int = 0, max_batch_tokens: int = 0, pass_positions: int = PASS_POSITIONS) -> None:
        self.model = model
        self.max_batch_tokens = max_batch_tokens  # bound on the rows' prompt + max_tokens positions (0: none)
        self.prefill_model = prefill_model or model
        self.stop_ids = set(stop_ids)
        self.pad_id = pad_id
        self.max_batch = max_batch
        self.prefill_tokens = prefill_tokens
        self.pass_positions = pass_positions  # (see PASS_POSITIONS)
        self.spare = spare
        self.prefixes = PrefixStore(prefix_cache_tokens) if prefix_cache_tokens > 0 else None
        # counts, and seconds: decode_s (decode forward passes), prefill_s (prefill forward passes),
        # rebuild_s (evict + admit: prefill, cache merges and the client's request set-up);
        # step_rows counts the rows of every decode pass, finished rows waiting for a rebuild too
        # (refills_in_place: refills that wrote new rows into finished rows' slots, no merge)
        self.stats = {"steps": 0, "rebuilds": 0, "refills_in_place": 0, "prefill_tokens": 0, "prefill_padded": 0,
                      "prefill_shared": 0,
                      "decode_rows": 0, "step_rows": 0, "prefix_reused_tokens": 0, "decode_s": 0.0, "prefill_s": 0.0,
                      "rebuild_s": 0.0}

    # ------------------------------------------------------------------ public
    def run(self, requests: list[GenRequest], on_done: Callable[[int, list[int], bool], None],
            decode_text: Callable[[list[int]], str] | None = None,
            progress: Callable[[int], None] | None = None) -> None:
        """Generate every request; ``on_done(index, token_ids, truncated)`` as each finishes.
        Longest prompts go first (identical prompts next to each other)."""
        first_seen: dict[tuple[int, ...], int] = {}
        for i, r in enumerate(requests):
            first_seen.setdefault(tuple(r.prompt_ids), i)
        order = sorted(range(len(requests)),
                       key=lambda i: (-len(requests[i].prompt_ids), first_seen[tuple(requests[i].prompt_ids)], i))

        def done(i: int, ids: list[int], truncated: bool) -> None:
            on_done(i, ids, truncated)
            if progress:
                progress(1)

        self.serve(deque(order), lambda i: requests[i], done, decode_text)

    def serve(self, queue: deque, to_request: Callable[[Any], GenRequest],
              on_done: Callable[[Any, list[int], bool], None],
              decode_text: Callable[[list[int]], str] | None = None) -> None:
        """Generate the items of ``queue`` (turned into requests by ``to_request``) until it is
        empty and no row is left; ``on_done(item, token_ids, truncated)`` may append new items
        to ``queue``: they join the running batch at the next refill."""
        rows: list[_Row] = []
        mask: torch.Tensor | None = None
        cache: Cache | None = None
        last = torch.empty(0, dtype=torch.long)
        waiting: list = []  # a request set up but held back by max_batch_tokens (it goes first)
        while queue or rows or waiting:
            finished = sum(r.done for r in rows)
            if not rows or finished == len(rows) or (finished and (
                    ((queue or waiting) and finished >= max(1, self.max_batch // 8))
                    or finished >= max(1, len(rows) // 4))):
                box, cache = [cache], None  # _rebuild drops the last reference to the old slabs
                started = time.perf_counter()
                rows, cache, mask, last = self._rebuild(rows, box, mask, last, queue, to_request, on_done,
                                                        decode_text, waiting)
                self.stats["rebuild_s"] += time.perf_counter() - started
                if not rows:
                    continue
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
            positions = torch.tensor([[r.position] for r in rows])
            started = time.perf_counter()
            with torch.inference_mode():
                out = self.model(input_ids=last.view(-1, 1), attention_mask=mask, position_ids=positions,
                                 past_key_values=cache, use_cache=True, logits_to_keep=1)
            self.stats["decode_s"] += time.perf_counter() - started
            self.stats["steps"] += 1
            self.stats["step_rows"] += len(rows)
            self.stats["decode_rows"] += sum(not r.done for r in rows)
            for r in rows:
                r.position += 1
            last = self._choose(rows, out.logits[:, -1, :].float(), decode_text)
            del out  # it references the cache, which a rebuild must be able to free
            for r in rows:  # report at once: a follow-up request may join at the next refill
                if r.done and not r.reported:
                    r.reported = True
                    on_done(r.item, r.tokens, r.truncated)

    # ------------------------------------------------------------------ internals
    def _rebuild(self, rows, box, mask, last, queue, to_request, on_done, decode_text, waiting):
        """Admit queued requests into the slots of finished rows (already reported): in place
        when the new rows fit the cache's width, else by evicting the finished rows and merging
        everything into new slabs (which also drops leading columns no row needs any more)."""
        self.stats["rebuilds"] += 1
        cache = box.pop()
        keep = [j for j, r in enumerate(rows) if not r.done]
        free = [j for j, r in enumerate(rows) if r.done]
        held = sum(len(rows[j].request.prompt_ids) + rows[j].request.max_tokens for j in keep)
        admitted = []
        while (waiting or queue) and len(keep) + len(admitted) < self.max_batch:
            item, request = waiting.pop() if waiting else (queue[0], to_request(queue.popleft()))
            need = len(request.prompt_ids) + request.max_tokens
            if self.max_batch_tokens and held + need > self.max_batch_tokens and (keep or admitted):
                waiting.append((item, request))  # its cache would not fit beside the rows decoding
                break
            held += need
            admitted.append((item, request))
        new = list(self._prefill(admitted, on_done, decode_text)) if admitted else []
        if cache is not None and new and self._fill_in_place(rows, cache, mask, last, free, keep, new):
            self.stats["refills_in_place"] += 1
            return rows, cache, mask, last
        parts_kv, parts_mask, parts_last, new_rows = [], [], [], [rows[j] for j in keep]
        if keep and cache is not None:
            idx = torch.tensor(keep)
            parts_kv.append([(layer.keys.index_select(0, idx), layer.values.index_select(0, idx))
                             for layer in cache.layers])
            parts_mask.append(mask.index_select(0, idx))
            parts_last.append(last.index_select(0, idx))
        cache = None  # the old slabs are freed before the new ones are filled
        for p_kv, p_mask, p_rows, p_last in new:
            parts_kv.append(p_kv)
            parts_mask.append(p_mask)
            parts_last.append(p_last)
            new_rows += p_rows
        if not new_rows:
            return [], None, None, torch.empty(0, dtype=torch.long)
        widths = [m.shape[1] for m in parts_mask]
        width = max(widths)
        merged_mask = torch.cat([left_pad_mask(m, width) for m in parts_mask])
        # columns that every row masks out (left padding no row needs any more) are dropped
        used = merged_mask.any(dim=0).nonzero()
        start = int(used[0]) if len(used) else 0
        merged_mask = merged_mask[:, start:]
        merged = merge_into_slabs(parts_kv, widths, width, start, self.spare)
        return new_rows, merged, merged_mask, torch.cat(parts_last)

    def _fill_in_place(self, rows, cache, mask, last, free, keep, new) -> bool:
        """Write the prefilled rows of ``new`` into the ``free`` slots of the running cache
        (right-aligned, their left columns masked): no copy of the rows still decoding. Not
        done (False) when they do not fit: more new rows than free slots, a prompt wider than
        the cache, or a cache whose leading columns no row needs any more have grown to a
        quarter of it (a full rebuild drops them)."""
        width = mask.shape[1]
        n_new = sum(len(p_rows) for _, _, p_rows, _ in new)
        if not keep or n_new > len(free) or any(p_mask.shape[1] > width for _, p_mask, _, _ in new):
            return False
        used = mask.index_select(0, torch.tensor(keep)).any(dim=0).nonzero()
        lead = min(int(used[0]) if len(used) else width, *(width - p_mask.shape[1] for _, p_mask, _, _ in new))
        if lead > max(64, width // 4):
            return False
        slots = iter(free)
        with torch.inference_mode():  # (slabs grown during a forward pass are inference tensors)
            for p_kv, p_mask, p_rows, p_last in new:
                w = p_mask.shape[1]
                for i, row in enumerate(p_rows):
                    slot = next(slots)
                    for layer, (k, v) in zip(cache.layers, p_kv):
                        for buf, src in ((layer._k, k), (layer._v, v)):
                            buf[slot, :, : width - w].zero_()
                            buf[slot, :, width - w: width] = src[i]
                    mask[slot, : width - w] = 0
                    mask[slot, width - w:] = p_mask[i]
                    last[slot] = p_last[i]
                    rows[slot] = row
        return True

    def _prefill(self, admitted, on_done, decode_text):
        """Prompt processing of ``admitted`` ``(item, request)`` pairs, identical prompts once and
        each from the end of its longest stored prefix; yields parts ``(kv, mask, rows,
        first_tokens)`` with rows that already finished on their first token reported and left out."""
        unique: dict[tuple[int, ...], list[tuple[Any, GenRequest]]] = {}
        for item, request in admitted:
            unique.setdefault(tuple(request.prompt_ids), []).append((item, request))
        self.stats["prefill_shared"] += len(admitted) - len(unique)
        remaining = list(unique)
        while remaining:
            # looked up chunk by chunk: a prompt can start from one prefilled by an earlier chunk
            found = {p: self.prefixes.longest(p) if self.prefixes is not None else (0, None) for p in remaining}
            remaining.sort(key=lambda p: len(p) - found[p][0], reverse=True)
            suffixes = [len(p) - found[p][0] for p in remaining]
            size = first_chunk(suffixes, self.prefill_tokens, self.pass_positions)
            chunk, remaining = remaining[:size], remaining[size:]
            self.stats["prefill_padded"] += size * suffixes[0]
            layers, mask, logits = self._prefill_chunk(chunk, [found[p] for p in chunk])
            if self.prefixes is not None:
                width = mask.shape[1]
                for row, p in enumerate(chunk):
                    self.prefixes.add(p, [(k[row, :, width - len(p):].clone(), v[row, :, width - len(p):].clone())
                                          for k, v in layers])
            dtype = next(self.model.parameters()).dtype
            layers = [(k.to(dtype), v.to(dtype)) for k, v in layers]
            # one row per request: copies of a shared prompt's row
            src, rows = [], []
            for row, p in enumerate(chunk):
                for item, request in unique[p]:
                    src.append(row)
                    rows.append(self._new_row(item, request, len(p)))
            idx = torch.tensor(src)
            first = self._choose(rows, logits.index_select(0, idx), decode_text)
            live = [j for j, r in enumerate(rows) if not r.done]
            for r in rows:
                if r.done:
                    on_done(r.item, r.tokens, r.truncated)
            if not live:
                continue
            keep = idx.index_select(0, torch.tensor(live))
            yield ([(k.index_select(0, keep), v.index_select(0, keep)) for k, v in layers],
                   mask.index_select(0, keep), [rows[j] for j in live], first.index_select(0, torch.tensor(live)))

    def _prefill_chunk(self, chunk: list[tuple[int, ...]], found: list[tuple[int, Any]]):
        """One forward pass over the prompts of ``chunk``, each from the end of its stored prefix
        (``found``: ``(length, rows)``). Returns the cache rows right-aligned (left padding
        masked) as ``[(keys, values)]`` per layer in the prefill model's dtype, their mask and the
        float logits of each prompt's last position."""
        reused = [n for n, _ in found]
        past, suffix = max(reused), max(len(p) - n for p, n in zip(chunk, reused))
        n_rows = len(chunk)
        ids = torch.full((n_rows, suffix), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n_rows, past + suffix), dtype=torch.long)
        positions = torch.zeros((n_rows, suffix), dtype=torch.long)
        for row, (p, n) in enumerate(zip(chunk, reused)):
            tail = len(p) - n
            ids[row, suffix - tail:] = torch.tensor(p[n:], dtype=torch.long)
            mask[row, past - n: past] = 1
            mask[row, past + suffix - tail:] = 1
            positions[row, suffix - tail:] = torch.arange(n, len(p))
        cache = None
        if past:
            n_layers = len(next(rows for _, rows in found if rows is not None))
            cache = Cache(layers=[SlabLayer(*_past_rows(found, layer, past, suffix), past) for layer in range(n_layers)])
        started = time.perf_counter()
        with torch.inference_mode():
            out = self.prefill_model(input_ids=ids, attention_mask=mask if past else mask[:, past:],
                                     position_ids=positions, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.stats["prefill_s"] += time.perf_counter() - started
        self.stats["prefill_tokens"] += int(mask[:, past:].sum())
        self.stats["prefix_reused_tokens"] += sum(reused)
        layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        logits = out.logits[:, -1, :].float()
        if not past:
            return layers, mask, logits
        # close the gap between each row's stored prefix and its new positions: right-aligned rows
        width = max(len(p) for p in chunk)
        index = torch.zeros((n_rows, width), dtype=torch.long)
        packed = torch.zeros((n_rows, width), dtype=torch.long)
        for row, (p, n) in enumerate(zip(chunk, reused)):
            tail = len(p) - n
            index[row, width - len(p):] = torch.cat([torch.arange(past - n, past),
                                                     torch.arange(past + suffix - tail, past + suffix)])
            packed[row, width - len(p):] = 1
        k0 = layers[0][0]
        gather = index[:, None, :, None].expand(n_rows, k0.shape[1], width, k0.shape[3])
        return [(k.gather(2, gather), v.gather(2, gather)) for k, v in layers], packed, logits

    def _new_row(self, item: Any, request: GenRequest, prompt_len: int) -> _Row:
        matcher = None
        if request.grammar is not None:
            import xgrammar as xgr

            matcher = xgr.GrammarMatcher(request.grammar)
        generator = None
        if request.temperature and request.temperature > 0:
            generator = torch.Generator()
            # the request's own seed only: its samples do not depend on the rest of the batch
            # (n samples of one prompt need n seeds -- the client adds the occurrence index)
            generator.manual_seed((request.seed if request.seed is not None else hash(item)) % (2**63))
        return _Row(item=item, request=request, matcher=matcher, generator=generator, position=prompt_len)

    def _choose(self, rows: list[_Row], logits: torch.Tensor, decode_text) -> torch.Tensor:
        """Pick the next token of every row (grammar mask, temperature, top-p); mark finished rows."""
        constrained = [j for j, r in enumerate(rows) if r.matcher is not None and not r.done]
        if constrained:
            import xgrammar as xgr

            bitmask = xgr.allocate_token_bitmask(len(rows), logits.shape[-1])
            for j in constrained:
                rows[j].matcher.fill_next_token_bitmask(bitmask, j)
            xgr.apply_token_bitmask_inplace(logits, bitmask, indices=constrained)
        chosen = logits.argmax(dim=-1)
        sampled = [j for j, r in enumerate(rows) if r.generator is not None and not r.done]
        if sampled:
            # sampling looks at the TOP_K most likely tokens of a row only (a full sort of the
            # vocabulary per row and step cost a fifth of the decode time): top-p is applied
            # within them, which changes nothing unless the top_k tokens hold less than top_p
            idx = torch.tensor(sampled)
            chosen[idx] = sample_rows(logits.index_select(0, idx),
                                      [rows[j].request.temperature for j in sampled],
                                      [rows[j].request.top_p for j in sampled],
                                      [rows[j].generator for j in sampled])
        for j, r in enumerate(rows):
            if r.done:
                chosen[j] = self.pad_id
                continue
            token = int(chosen[j])
            if token in self.stop_ids:
                r.done = True
                continue
            if r.matcher is not None:
                r.matcher.accept_token(token)
            r.tokens.append(token)
            if r.matcher is not None and r.matcher.is_terminated():
                r.done = True
            elif len(r.tokens) >= r.request.max_tokens:
                r.done, r.truncated = True, True
            elif r.request.stop and decode_text is not None and any(s in decode_text(r.tokens[-16:])
                                                                    for s in r.request.stop):
                r.done = True
            elif r.request.stop_when is not None and decode_text is not None and r.request.stop_when(
                    decode_text(r.tokens)):
                r.done = True
        return chosen


def _past_rows(found, layer: int, past: int, suffix: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Key and value buffers ``[rows, heads, past + suffix, dim]`` holding each row's stored
    prefix right-aligned in the first ``past`` columns (room left for the suffix)."""
    k0, _ = next(rows for _, rows in found if rows is not None)[layer]
    heads, dim = k0.shape[0], k0.shape[2]
    buffers = []
    for which in (0, 1):
        buf = k0.new_zeros((len(found), heads, past + suffix, dim))
        for row, (n, rows) in enumerate(found):
            if n:
                buf[row, :, past - n: past] = rows[layer][which][:, :n]
        buffers.append(buf)
    return buffers[0], buffers[1]
