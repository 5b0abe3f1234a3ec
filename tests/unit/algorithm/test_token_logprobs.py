"""Fused log-prob + entropy (full vocabulary) against plain torch autograd: values, gradients, memory, edge cases.

The vocab-parallel (TP=2) path is checked in tests/distributed/test_vocab_parallel_logprobs.py.
"""

import pytest
import torch

from megatron_mmupt.algorithm.logprobs import token_logprobs_and_entropy

V = 37


def reference(logits: torch.Tensor, targets: torch.Tensor, temperature: float):
    """Plain autograd: log_softmax, gather, -(p * logp).sum."""
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1), -(logp.exp() * logp).sum(-1)


def _data(shape=(3, 5), seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(*shape, V, generator=g) * scale
    targets = torch.randint(0, V, shape, generator=g)
    w_lp, w_ent = torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)
    return logits, targets, w_lp, w_ent


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("chunk_rows", [None, 1, 4, 1000])
@pytest.mark.parametrize("shape", [(3, 5), (15,), (2, 3, 4)])
def test_values_and_gradients_match_plain_autograd(temperature, chunk_rows, shape):
    logits, targets, w_lp, w_ent = _data(shape)
    x = logits.clone().requires_grad_()
    lp, ent = token_logprobs_and_entropy(x, targets, temperature=temperature, chunk_rows=chunk_rows)
    (lp * w_lp + ent * w_ent).sum().backward()

    y = logits.clone().requires_grad_()
    ref_lp, ref_ent = reference(y, targets, temperature)
    (ref_lp * w_lp + ref_ent * w_ent).sum().backward()

    assert lp.shape == shape and ent.shape == shape and lp.dtype == torch.float32
    torch.testing.assert_close(lp, ref_lp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ent, ref_ent, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x.grad, y.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("use", ["logprobs", "entropy"])
def test_gradient_of_each_output_alone(use):
    logits, targets, w_lp, w_ent = _data()
    x, y = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    lp, ent = token_logprobs_and_entropy(x, targets, temperature=0.9, chunk_rows=2)
    ref_lp, ref_ent = reference(y, targets, 0.9)
    ((lp * w_lp) if use == "logprobs" else (ent * w_ent)).sum().backward()
    ((ref_lp * w_lp) if use == "logprobs" else (ref_ent * w_ent)).sum().backward()
    torch.testing.assert_close(x.grad, y.grad, atol=1e-5, rtol=1e-5)


def test_without_entropy():
    logits, targets, w_lp, _ = _data()
    x, y = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    lp, ent = token_logprobs_and_entropy(x, targets, with_entropy=False)
    assert ent is None
    (lp * w_lp).sum().backward()
    ref_lp, _ = reference(y, targets, 1.0)
    (ref_lp * w_lp).sum().backward()
    torch.testing.assert_close(lp, ref_lp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x.grad, y.grad, atol=1e-5, rtol=1e-5)


def test_bf16_logits_are_computed_in_fp32():
    logits, targets, w_lp, w_ent = _data()
    x = logits.to(torch.bfloat16).requires_grad_()
    lp, ent = token_logprobs_and_entropy(x, targets, temperature=0.7)
    (lp * w_lp + ent * w_ent).sum().backward()
    y = logits.to(torch.bfloat16).float().requires_grad_()  # the same values, in fp32
    ref_lp, ref_ent = reference(y, targets, 0.7)
    (ref_lp * w_lp + ref_ent * w_ent).sum().backward()
    assert lp.dtype == torch.float32 and x.grad.dtype == torch.bfloat16
    torch.testing.assert_close(lp, ref_lp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ent, ref_ent, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x.grad.float(), y.grad, atol=1e-2, rtol=1e-2)  # bf16 rounding of the gradient


def test_large_logits_are_stable():
    logits, targets, _, _ = _data(scale=1e4)
    lp, ent = token_logprobs_and_entropy(logits, targets)
    ref = torch.log_softmax(logits.double(), dim=-1)
    torch.testing.assert_close(lp.double(), ref.gather(-1, targets.unsqueeze(-1)).squeeze(-1), atol=1e-3, rtol=1e-6)
    torch.testing.assert_close(ent.double(), -(ref.exp() * ref).sum(-1), atol=1e-3, rtol=1e-6)
    assert torch.isfinite(ent).all() and (ent >= 0).all()


def test_does_not_modify_logits():
    logits, targets, _, _ = _data()
    x = logits.clone().requires_grad_()
    lp, ent = token_logprobs_and_entropy(x, targets, temperature=1.0, chunk_rows=3)
    (lp.sum() + ent.sum()).backward()
    assert torch.equal(x.detach(), logits)


def test_saves_no_softmax_for_backward():
    # Memory frugality: besides the logits themselves (already alive for the graph), only O(tokens) is saved.
    logits, targets, _, _ = _data(shape=(4, 8))
    x = logits.clone().requires_grad_()
    saved: list[torch.Tensor] = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        token_logprobs_and_entropy(x, targets)
    num_tokens = targets.numel()
    extra = [t for t in saved if t.data_ptr() != x.data_ptr()]
    assert sum(t.numel() for t in extra) <= 4 * num_tokens
    assert any(t.data_ptr() == x.data_ptr() for t in saved)


def test_nonfinite_row_gives_nan_output_and_zero_gradient():
    logits, targets, w_lp, _ = _data(shape=(4,))
    logits[1, 3] = float("nan")
    x = logits.clone().requires_grad_()
    lp, ent = token_logprobs_and_entropy(x, targets)
    assert torch.isnan(lp[1]) and torch.isnan(ent[1])
    (torch.where(torch.isfinite(lp), lp, 0.0) * w_lp).sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad[1] == 0).all()
    y = logits[[0, 2, 3]].clone().requires_grad_()
    ref_lp, _ = reference(y, targets[[0, 2, 3]], 1.0)
    (ref_lp * w_lp[[0, 2, 3]]).sum().backward()
    torch.testing.assert_close(x.grad[[0, 2, 3]], y.grad, atol=1e-5, rtol=1e-5)


def test_out_of_range_targets_are_refused():
    logits, targets, _, _ = _data()
    with pytest.raises(ValueError, match=r"targets must be vocabulary ids in \[0, 37\)"):
        token_logprobs_and_entropy(logits, targets.masked_fill(targets == targets[0, 0], V))
    with pytest.raises(ValueError, match=r"targets must be vocabulary ids"):
        token_logprobs_and_entropy(logits, targets.masked_fill(targets == targets[0, 0], -1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"temperature": 0.0}, "temperature must be > 0"), ({"chunk_rows": 0}, "chunk_rows must be > 0")],
)
def test_bad_arguments(kwargs, message):
    logits, targets, _, _ = _data()
    with pytest.raises(ValueError, match=message):
        token_logprobs_and_entropy(logits, targets, **kwargs)


def test_shape_mismatch():
    logits, targets, _, _ = _data()
    with pytest.raises(ValueError, match="disagree"):
        token_logprobs_and_entropy(logits, targets[:, :2])


def test_no_grad_inference():
    logits, targets, _, _ = _data()
    with torch.no_grad():
        lp, ent = token_logprobs_and_entropy(logits.requires_grad_(), targets)
    ref_lp, ref_ent = reference(logits.detach(), targets, 1.0)
    torch.testing.assert_close(lp, ref_lp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ent, ref_ent, atol=1e-5, rtol=1e-5)
    assert not lp.requires_grad and not ent.requires_grad
