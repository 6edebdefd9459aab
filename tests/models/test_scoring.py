import math

import torch

from toolace_kedro.models import load_policy
from toolace_kedro.models.scoring import assistant_nll, assistant_spans


def test_spans_cover_exactly_the_assistant_contents(tiny_model_dir):
    _, tok = load_policy(tiny_model_dir)
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "[get_weather(city=\"Paris\")]"},
                {"role": "tool", "content": "{\"t\": 20}"},
                {"role": "assistant", "content": "It is 20 degrees."}]
    text, spans = assistant_spans(tok, messages)
    assert [text[a:b] for a, b in spans] == [messages[1]["content"], messages[3]["content"]]


def test_nll_matches_a_direct_computation_and_ignores_padding(tiny_model_dir):
    model, tok = load_policy(tiny_model_dir)
    short = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]
    long = [{"role": "user", "content": "tell me a long story " * 10}, {"role": "assistant", "content": "once upon a time"}]
    together = assistant_nll(model, tok, [short, long], batch_size=2)
    alone = assistant_nll(model, tok, [short], batch_size=1) + assistant_nll(model, tok, [long], batch_size=1)
    assert all(math.isclose(a, b, rel_tol=1e-4) for a, b in zip(together, alone))
    # direct: mean NLL of the tokens of "hello there" inside the rendered text
    text, ((start, end),) = assistant_spans(tok, short)
    enc = tok(text, return_offsets_mapping=True, add_special_tokens=False)
    ids = torch.tensor([enc["input_ids"]])
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
    picks = [i for i, (s, _) in enumerate(enc["offset_mapping"]) if start <= s < end]
    direct = -sum(logp[i - 1, ids[0, i]].item() for i in picks) / len(picks)
    assert math.isclose(together[0], direct, rel_tol=1e-4)
    assert math.isnan(assistant_nll(model, tok, [[{"role": "user", "content": "x"}]])[0])
