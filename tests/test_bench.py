"""``nsa-ops bench`` on CPU: the quick run checks every suite against the reference and writes a
complete CSV, ``--suite`` and the shape overrides pick and rewrite cases, a wrong or crashing
nsa_ops makes the exit status 1 (the table still printed), the L2 rotation cycles through enough
distinct input copies, and the roofline's bytes model counts each selected K/V block once.

Runs the entry point in-process on small shapes (about 15 s on a 2-core machine)."""
import csv
import math
import sys

import pytest
import torch

import nsa_ops
from nsa_ops import bench

# The columns of the CSV files recorded before issue 6 (results/h100_2026-11-22_*.csv); scripts
# reading them must keep working.
HISTORICAL_COLUMNS = [
    "case", "dist", "distinct_per_tile", "ms", "target_ms", "dense_ms", "torch_path_ms", "fla_ms", "graph_ms",
    "dense_graph_ms", "speedup_vs_dense", "tflops", "kv_gbps", "max_abs_err", "rel_fro_err", "check", "device",
    "date",
]
# TARGETS.md: fp32 outputs within 1e-3 of the float64 reference.
FP32_TOLERANCE = 1e-3


def run(tmp_path, *argv):
    """Run the bench in-process on CPU; (exit status, CSV rows)."""
    path = tmp_path / "bench.csv"
    args = bench.build_parser().parse_args(["--device", "cpu", "--csv", str(path), *argv])
    status = bench.run_bench(args)
    with open(path, newline="") as f:
        return status, list(csv.DictReader(f))


def test_quick_run_covers_every_suite_and_passes_the_reference_check(tmp_path, capsys):
    status, rows = run(tmp_path, "--quick")
    assert status == 0
    assert {r["suite"] for r in rows} == set(bench.SUITES)
    assert {r["kind"] for r in rows} == {"fwd", "fwd+bwd", "decode"}
    for r in rows:
        assert r["check"] == "ok", r
        for column in ("max_abs_err", "rel_fro_err"):
            assert math.isfinite(float(r[column])) and float(r[column]) <= FP32_TOLERANCE, (column, r)
        assert float(r["ms"]) > 0 and math.isfinite(float(r["ms"])), r
        assert (r["torch"], r["dtype"], r["triton"] != "", r["driver"]) == (torch.__version__, "fp32", True, "n/a")
    with open(tmp_path / "bench.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header[: len(HISTORICAL_COLUMNS)] == HISTORICAL_COLUMNS

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "nsa-ops bench"
    progress = [line for line in out if line.startswith("[")]
    assert len(progress) == len(rows)
    # The table comes last: its header, then one line per row, in order.
    table = out[-len(rows) - 1:]
    assert table[0].split()[:3] == ["case", "dist", "distinct_per_tile"]
    assert [line.startswith(r["case"] + " ") for line, r in zip(table[1:], rows)] == [True] * len(rows)


@pytest.mark.parametrize("suite, kinds", [("decode", {"decode"}), ("varlen", {"fwd"})])
def test_suite_runs_only_its_cases(tmp_path, suite, kinds):
    status, rows = run(tmp_path, "--quick", "--suite", suite)
    assert status == 0 and rows
    assert {r["suite"] for r in rows} == {suite}
    assert {r["kind"] for r in rows} == kinds
    if suite == "decode":
        assert {r["T"] for r in rows} == {"1"}
    else:  # the packed documents and their padded batch
        assert sorted(r["case"].split()[1] for r in rows) == ["padded", "varlen"]


def test_shape_override_rewrites_every_case(tmp_path):
    status, rows = run(tmp_path, "--quick", "--B", "2", "--T", "128", "--Tk", "256", "--HQ", "8", "--H", "2",
                       "--D", "32", "--S", "4", "--block-size", "16")
    assert status == 0
    assert {r["suite"] for r in rows} == set(bench.SUITES)
    for r in rows:
        assert r["check"] == "ok", r
        assert r["case"].endswith(" custom") and r["target_ms"] == "nan", r
        # --Dv follows --D.
        assert [r[f] for f in ("HQ", "H", "D", "Dv", "S", "block_size")] == ["8", "2", "32", "32", "4", "16"], r
    shape = {r["case"].split(" G")[0]: (int(r["B"]), int(r["T"]), int(r["Tk"])) for r in rows}
    assert shape["fwd"] == shape["fwd+bwd"] == (2, 128, 256)  # queries at the end of 256 keys
    assert shape["decode"] == (2, 1, 256)  # one query, a 256-token cache
    assert shape["fwd varlen 3 docs"] == (1, 128, 128)  # documents scaled to 128 tokens; no --B/--Tk
    B, T, Tk = shape["fwd padded"]  # the same documents as a padded batch
    assert B == 3 and T == Tk < 128 <= B * T


def test_override_that_makes_no_shape_is_refused(tmp_path, capsys):
    args = bench.build_parser().parse_args(["--device", "cpu", "--quick", "--HQ", "6", "--H", "4"])
    assert bench.run_bench(args) == 2
    assert "--HQ/--H" in capsys.readouterr().err


@pytest.mark.parametrize("broken", ["wrong", "raises"])
def test_failed_check_gives_exit_status_1_and_still_prints_the_table(tmp_path, capsys, monkeypatch, broken):
    exact = nsa_ops.selection_attention

    def broken_attention(*args, **kwargs):
        if broken == "raises":
            raise RuntimeError("kernel exploded")
        return exact(*args, **kwargs) + 1e-2

    monkeypatch.setattr(nsa_ops, "selection_attention", broken_attention)
    status, rows = run(tmp_path, "--quick", "--suite", "decode")
    assert status == 1
    assert [r["check"] for r in rows] == ["FAIL"] * len(rows)
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(rows[-1]["case"]) and last.rstrip().endswith("FAIL")


def test_rotation_cycles_through_the_fewest_copies_that_exceed_twice_l2():
    n = bench.rotation_copies(bytes_per_copy=10, l2_bytes=100)
    assert n * 10 > 2 * 100 >= (n - 1) * 10
    touched = []
    step = bench.cycling([lambda i=i: touched.append(i) for i in range(n)])
    for _ in range(n):
        step()
    assert touched == list(range(n))  # each copy once, in turn
    for _ in range(n):
        step()
    assert touched == list(range(n)) * 2  # then around again


def test_rotation_is_off_for_large_inputs_and_capped_for_tiny_ones():
    assert bench.rotation_copies(bytes_per_copy=200, l2_bytes=100) == 1
    assert bench.rotation_copies(bytes_per_copy=10, l2_bytes=0) == 1  # L2 unknown (CPU)
    assert bench.rotation_copies(bytes_per_copy=1, l2_bytes=10**9, cap=32) == 32


def test_decode_copies_share_the_cache_and_draw_new_queries_and_selections():
    case = bench.Case("decode", "decode", 2, 1, 4096, 16, 4, D=64, Dv=64, S=8, block_size=32)
    first = bench.make_inputs(case, "random", torch.float32, torch.device("cpu"))
    l2 = bench.touched_bytes(case, first)  # one copy is half of 2x L2: 3 copies exceed it
    copies = bench.input_copies(case, "random", torch.float32, torch.device("cpu"), l2_bytes=l2)
    assert len(copies) == 3
    assert torch.equal(copies[0].q, first.q)  # copy 0 is the one checked against the reference
    assert len({x.k.data_ptr() for x in copies}) == 1 and len({x.v.data_ptr() for x in copies}) == 1
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not torch.equal(copies[a].q, copies[b].q)
        assert not torch.equal(copies[a].block_indices, copies[b].block_indices)


def test_roofline_bytes_count_each_visible_selected_block_once():
    # Two queries at positions 62 and 63 of 64 keys (blocks 0..3 of 16); two KV heads.
    case = bench.Case("c", "fwd", 1, 2, 64, 2, 2, D=8, Dv=8, S=4, block_size=16)
    bi = torch.tensor([[[[0, 3, 3, -1], [0, 0, 0, 0]],  # head 0: {0, 3}; head 1: {0}
                        [[1, 0, 5, 2], [2, -1, -1, -1]]]])  # head 0 adds {1, 2} (5: no such block); head 1 {2}
    assert bench.distinct_kv_blocks(case, bi) == 4 + 2
    # Packed documents are separate sequences, and a block past the token's position is not read.
    packed = bench.Case("p", "fwd", 1, 64, 64, 1, 1, D=8, Dv=8, S=2, block_size=16, doc_lens=(32, 32))
    bi = torch.full((1, 64, 1, 2), -1)
    bi[0, 5, 0] = torch.tensor([0, 1])  # document 0, position 5: block 1 lies in its future
    bi[0, 63, 0] = torch.tensor([0, 1])  # document 1, position 31: both blocks
    assert bench.distinct_kv_blocks(packed, bi) == 3
    per_block = 16 * (8 + 8) * 2  # bf16 K and V of one block
    q_and_out = 64 * (8 + 8) * 2
    assert bench.roofline_bytes(packed, bi, elem=2) == q_and_out + 3 * per_block


def test_plots_are_skipped_without_matplotlib(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    bench._plot([], str(tmp_path / "bench.png"))
    assert "matplotlib not installed" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
