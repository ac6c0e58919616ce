"""Backend selection: env var, context manager, explicit errors, debug logging."""
import logging

import pytest
import torch

import nsa_ops
from nsa_ops import backend, selection_attention

from problems import make_problem


def test_context_manager_nests_and_restores(monkeypatch):
    monkeypatch.delenv("NSA_SELECTION_BACKEND", raising=False)
    assert backend.requested_backend() == "auto"
    with nsa_ops.use_backend("torch"):
        assert backend.requested_backend() == "torch"
        with nsa_ops.use_backend("triton"):
            assert backend.requested_backend() == "triton"
        assert backend.requested_backend() == "torch"
    assert backend.requested_backend() == "auto"


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("NSA_SELECTION_BACKEND", "torch")
    assert backend.requested_backend() == "torch"
    monkeypatch.setenv("NSA_SELECTION_BACKEND", "cuda-magic")
    with pytest.raises(ValueError, match="NSA_SELECTION_BACKEND"):
        backend.requested_backend()


def test_unknown_backend_name_is_rejected():
    with pytest.raises(ValueError, match="backend"):
        with nsa_ops.use_backend("fast"):
            pass


def test_auto_on_cpu_takes_torch_path_and_logs(caplog, monkeypatch):
    monkeypatch.delenv("NSA_SELECTION_BACKEND", raising=False)
    p = make_problem(0, Tq=8, Tk=16, dtype=torch.float32)
    with caplog.at_level(logging.DEBUG, logger="nsa_ops"):
        selection_attention(p.q, p.k, p.v, p.block_indices, block_size=16)
    assert any("torch path" in r.getMessage() for r in caplog.records)


def test_triton_request_that_cannot_run_names_the_reason(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    p = make_problem(0, Tq=8, Tk=16, dtype=torch.float32)
    with nsa_ops.use_backend("triton"), pytest.raises(ValueError, match="device cpu"):
        selection_attention(p.q, p.k, p.v, p.block_indices, block_size=16)



def test_float64_is_not_a_triton_dtype(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    q = torch.zeros(1, 1, 1, 8, dtype=torch.float64)
    reason = backend.triton_unsupported_reason(q, q, q, allow_interpreter=True)
    assert reason is not None and "dtype" in reason
