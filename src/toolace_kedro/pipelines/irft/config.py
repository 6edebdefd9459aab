"""The ``irft`` parameters (``conf/*/parameters_irft.yml``) as one typed model: an unknown key or a
bad value is an error that names it. Nodes take ``IrftParams.of(params)`` (a dict or the model).
Defaults are iTool's where the paper gives one; ``conf/base/parameters_irft.yml`` sizes them for
the embedded model on a CPU."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from toolace_kedro.params import LoraParams, StrictModel

__all__ = ["IrftParams", "MiningParams", "OptimisationParams", "PairParams", "SearchParams"]


class MiningParams(StrictModel):
    """Deficiency mining: which training samples the round searches."""

    strategy: Literal["perplexity", "failures"] = Field(
        "perplexity", description="perplexity: iTool's top ratio by perplexity; failures: the candidates "
        "(the highest-perplexity ones) whose greedy answer is wrong")
    candidates: int | None = Field(None, ge=1, description="failures: answers decoded (the highest-perplexity "
                                   "samples, split over tool-call and non-tool); null: every sample")
    answer_tokens: int = Field(96, ge=8, description="failures: tokens of a greedy answer")
    balance: bool = Field(False, description="failures: max_samples split evenly over tool-call and non-tool; "
                          "a group with fewer failures than its half is filled with candidates it answered "
                          "right (highest perplexity first), so pairs push both ways, not only towards calling")
    turns: Literal["first", "requests"] = Field(
        "requests", description="Which assistant turn of a dialog is scored and searched: first, its first one; "
        "requests, the hardest of those that answer a user turn (the opening request, a clarification, each "
        "follow-up), with the dialog up to it")
    ratio: float = Field(0.3, gt=0, le=1, description="perplexity: top share by perplexity kept in each group "
                         "(tool-call / non-tool)")
    max_samples: int | None = Field(None, ge=1, description="Cap on the mined samples (each group cut in "
                                    "proportion); null: none")
    batch_size: int = Field(8, ge=1, description="Conversations per teacher-forced scoring pass")
    dtype: str = Field("auto_bf16", description="Scoring dtype; auto_bf16: bfloat16 on CPUs with native bf16 "
                       "(ranking only), else auto")


class SearchParams(StrictModel):
    """Step-level MCTS on the mined samples (``mcts.py``, ``decoding.py``)."""

    reward: Literal["match", "self_grade"] = Field(
        "match", description="match: deterministic comparison with the ground truth; self_grade: the policy "
        "grades its answer against the truth")
    k: int = Field(3, ge=1, description="Continuations sampled per expansion")
    n_iterations: int = Field(5, ge=1, description="Selections (expansions or terminal re-evaluations) per sample")
    c: float = Field(1.0, ge=0, description="PUCT exploration constant")
    max_depth: int = Field(3, ge=1, description="A child at this depth takes the rest of the answer as one node")
    fragments_per_step: int = Field(2, ge=1, description="Separator-delimited fragments that make one step")
    separators: list[str] = Field(default_factory=lambda: [". ", ", ", "=", "("], min_length=1,
                                  description="Where a continuation is cut into fragments")
    max_new_tokens: int = Field(50, ge=1, description="Tokens sampled per expansion (a step is cut from them)")
    simulation_tokens: int = Field(48, ge=0, description="More tokens to complete the answer (the short "
                                   "simulation)")
    temperature: float = Field(1.0, ge=0, description="Expansion sampling temperature")
    simulation_temperature: float = Field(0.7, ge=0, description="Sampling temperature of the simulation")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling threshold of the expansions")
    batch_samples: int = Field(8, ge=1, description="Samples searched in lockstep: their expansions decode as "
                               "one batch")
    reuse_prefix: bool = Field(True, description="Process each prompt once and feed only the node's tokens per "
                               "expansion (false: the prefix again every expansion)")
    dtype: str = Field("auto", description="Decoding dtype; auto: bf16 on CUDA and on CPUs with native bf16, "
                       "else fp32")
    prefill_dtype: Literal["auto", "model"] = Field(
        "auto", description="auto: with an fp32 search on a CPU with native bf16, prompts are processed by a "
        "bf16 copy; model: in the search's dtype")
    seed: int = Field(0, description="Base seed of the sampled continuations")


class PairParams(StrictModel):
    """Which preference pairs are built from the search trees (``preference.py``)."""

    min_value_gap: float = Field(0.1, description="Least chosen value minus rejected value")
    max_word_overlap: float = Field(0.95, ge=0, le=1, description="Most multiset Jaccard overlap of the two "
                                    "continuations' words")
    min_chosen_value: float = Field(-0.3, description="Least value of the chosen side")
    answer_pairs: bool = Field(True, description="Also the ground truth against the policy's worst answer "
                               "(whole-answer pairs)")
    policy_answer_pairs: bool = Field(True, description="failures mining: the ground truth against the "
                                      "policy's own wrong greedy answer, one pair per mined sample")
    decision_pairs: bool = Field(True, description="failures mining: the ground truth against the other "
                                 "decision under the same tools (a call where a text answer is due, a decline "
                                 "where a call is due; taken from the training data), one pair per mined sample "
                                 "whose policy pair does not already oppose the two decisions")


class OptimisationParams(StrictModel):
    """Preference optimisation of a round: a new LoRA adapter, merged (``optimisation.py``)."""

    method: Literal["simpo", "dpo"] = Field("simpo", description="simpo: CPOTrainer with loss_type simpo, "
                                            "cpo_alpha 0; dpo: DPOTrainer")
    beta: float = Field(2.5, gt=0, description="SimPO or DPO beta (DPO usually far lower)")
    simpo_gamma: float = Field(0.5, description="SimPO target reward margin")
    dpo_loss_type: str | list[str] = Field("sigmoid", description="dpo: any TRL DPO loss type")
    dpo_reference: Literal["sft", "previous"] = Field(
        "sft", description="dpo: the reference policy; sft: the SFT policy; previous: the round's starting policy")
    learning_rate: float = Field(1e-6, gt=0, description="Peak learning rate of the adapter")
    epochs: float = Field(2, gt=0, description="Passes over the round's pairs")
    batch_size: int = Field(4, ge=1, description="Pairs per micro-batch (training and pair evaluation)")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Micro-batches per optimiser step")
    lr_scheduler: str = Field("cosine", description="transformers learning-rate schedule")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of the steps spent warming up")
    max_length: int = Field(1024, ge=16, description="Tokens of prompt + answer; longer pairs are left out")
    max_pairs: int | None = Field(4000, ge=1, description="Cap on the pairs trained on (largest value gap "
                                  "first); null: all")
    lora: LoraParams = Field(default_factory=LoraParams, description="The round's new LoRA adapter")
    report_to: str | list[str] = Field("mlflow", description="Trainer loggers; mlflow: a nested run "
                                       "irft-round-<k> per round; none: off")
    bf16: Literal["auto"] | bool = Field("auto", description="auto: bf16 autocast on CUDA with bf16 and on "
                                         "CPUs with native bf16, else fp32")
    shared_prompt: bool = Field(True, description="simpo: each pair's prompt processed once for both answers "
                                "(the same loss)")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in the backward pass: a "
                                         "lower peak for more time (turns shared_prompt off)")
    evaluate_pairs: bool = Field(True, description="Loss, reward margin and accuracy over the round's pairs "
                                 "before and after training")
    mmap_threshold_mib: float | None = Field(None, gt=0, description="glibc: allocations of at least this size "
                                             "get their own mappings while the node runs; null: glibc's default")
    seed: int = Field(0, description="Trainer seed")


class IrftParams(StrictModel):
    """The ``irft:`` block."""

    n_rounds: int = Field(1, ge=1, description="Rounds irft_round_1 ... irft_round_N (iTool: 3, conf/paper); "
                          "the pipeline is built with the run's value (IRFT_N_ROUNDS overrides; docs/irft.md)")
    mining: MiningParams = Field(default_factory=MiningParams, description="Deficiency mining")
    search: SearchParams = Field(default_factory=SearchParams, description="Step-level MCTS")
    pairs: PairParams = Field(default_factory=PairParams, description="Preference pairs from the trees")
    optimisation: OptimisationParams = Field(default_factory=OptimisationParams,
                                             description="Preference optimisation")
