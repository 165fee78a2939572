import logging

import numpy as np
import pytest
import torch
from PIL import Image

from engine.catalogue.images import load_image
from engine.catalogue.products import load_catalogue
from engine.errors import ModelUnavailableError
from engine.models import clip, clip_onnx
from engine.models.clip import ClipEmbedder
from tests.conftest import write_catalogue


def test_text_and_image_vectors_are_unit_float32_in_one_space(make_settings):
    embedder = ClipEmbedder(make_settings())
    texts = embedder.embed_texts(["red running shoes", "跑步鞋", "x" * 5000])
    images = embedder.embed_images([Image.new("RGB", (120, 80), "red"), Image.new("RGB", (30, 300), "blue")])
    assert texts.shape == (3, 32) and images.shape == (2, 32)
    assert texts.dtype == np.float32 and images.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(np.vstack([texts, images]), axis=1), 1.0, atol=1e-5)
    assert not np.allclose(texts[0], texts[1])
    assert embedder.space.dim == 32 and embedder.space.model_id == "open_clip:shoplens-tiny:random-seed0"


def test_batches_follow_the_batch_size(make_settings):
    embedder = ClipEmbedder(make_settings(batch_size=2))
    one_by_one = np.vstack([embedder.embed_texts([t]) for t in ["a", "b", "c", "d", "e"]])
    embedder.calls = 0
    batched = embedder.embed_texts(["a", "b", "c", "d", "e"])
    assert embedder.calls == 3
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert embedder.embed_texts([]).shape == (0, 32)


def test_model_loads_lazily_once_and_is_in_eval_mode(make_settings):
    embedder = ClipEmbedder(make_settings())
    assert embedder._loaded is None
    embedder.embed_texts(["a"])
    loaded = embedder._loaded
    embedder.embed_images([Image.new("RGB", (8, 8))])
    assert embedder._loaded is loaded and not loaded.model.training


def test_random_weights_are_seeded_so_restarts_agree(make_settings):
    first = ClipEmbedder(make_settings()).embed_texts(["teddy bear"])
    again = ClipEmbedder(make_settings()).embed_texts(["teddy bear"])
    other_seed = ClipEmbedder(make_settings(random_seed=1)).embed_texts(["teddy bear"])
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other_seed)


def test_local_checkpoint_is_used_and_named_in_the_space(make_settings, tmp_path):
    source = ClipEmbedder(make_settings(random_seed=7, clip_runtime="torch"))  # the runtime is not the point here
    checkpoint = tmp_path / "tiny.pt"
    torch.save(source._clip.model.state_dict(), checkpoint)
    loaded = ClipEmbedder(make_settings(clip_pretrained=str(checkpoint), clip_runtime="torch"))
    np.testing.assert_allclose(loaded.embed_texts(["lamp"]), source.embed_texts(["lamp"]), atol=1e-6)
    assert loaded.space.model_id.startswith("open_clip:shoplens-tiny:tiny.pt:")


@pytest.mark.parametrize("overrides, message", [
    ({"clip_model": "no-such-model"}, "Could not load CLIP model 'no-such-model'"),
    ({"clip_pretrained": "/nonexistent/weights.bin"}, "set SHOPLENS_CLIP_PRETRAINED"),
])  # fmt: skip
def test_unloadable_model_gives_one_clear_line(make_settings, overrides, message):
    embedder = ClipEmbedder(make_settings(**overrides))
    with pytest.raises(ModelUnavailableError, match=message) as caught:
        embedder.embed_texts(["a"])
    assert "\n" not in str(caught.value)


# --- runtimes ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def catalogue_inputs(tmp_path_factory) -> tuple[list[str], list[Image.Image]]:
    """Texts and images of a drawn catalogue, plus a few harder ones."""
    products = load_catalogue(write_catalogue(tmp_path_factory.mktemp("shop"), count=16)).products
    texts = [product.embedding_text() for product in products] + ["跑步鞋", "x" * 5000, "a"]
    images = [load_image(product.image, max_bytes=10**7, max_pixels=10**7) for product in products]
    noise = np.random.default_rng(1).integers(0, 256, size=(90, 120, 3), dtype=np.uint8)
    return texts, [*images, Image.fromarray(noise), Image.new("RGB", (30, 300), "blue")]


@pytest.mark.parametrize("runtime", ["onnx", "onnx-int8"])
def test_fast_runtimes_agree_with_fp32_torch_in_the_same_space(make_settings, catalogue_inputs, runtime):
    texts, images = catalogue_inputs
    reference = ClipEmbedder(make_settings(clip_runtime="torch"))
    fast = ClipEmbedder(make_settings(clip_runtime=runtime))
    assert (reference.runtime, fast.runtime) == ("torch", runtime)
    assert fast.space == reference.space  # the runtime is not part of the vector space
    for embed in ("embed_texts", "embed_images"):
        inputs = texts if embed == "embed_texts" else images
        expected, got = getattr(reference, embed)(inputs), getattr(fast, embed)(inputs)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert (got * expected).sum(axis=1).min() >= 0.99


def test_preprocessed_pixels_embed_like_images(make_settings, catalogue_inputs):
    embedder = ClipEmbedder(make_settings(batch_size=4))
    _, images = catalogue_inputs
    pixels = torch.stack([embedder.preprocess(image) for image in images])
    embedder.calls = 0
    np.testing.assert_allclose(embedder.embed_pixels(pixels), embedder.embed_images(images), atol=1e-6)
    assert embedder.calls == 2 * 5  # 18 images in batches of 4, twice


def test_export_is_cached_and_reused_after_a_restart(make_settings, tmp_path, monkeypatch):
    settings = make_settings(model_cache_dir=tmp_path / "cache")
    first = ClipEmbedder(settings)
    assert first.runtime == "onnx-int8"
    (folder,) = (tmp_path / "cache" / "clip-onnx").iterdir()
    assert sorted(path.name for path in folder.iterdir()) == ["image.onnx", "text.onnx"]

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(clip_onnx, "export_towers", no_export)
    restarted = ClipEmbedder(settings)
    assert restarted.runtime == "onnx-int8"
    np.testing.assert_array_equal(restarted.embed_texts(["lamp"]), first.embed_texts(["lamp"]))


def test_cache_is_keyed_by_model_weights_and_runtime(make_settings, tmp_path):
    def folder(**overrides):
        return ClipEmbedder(make_settings(**overrides))._onnx_folder(overrides.pop("clip_runtime", "onnx-int8"))

    checkpoint = tmp_path / "tiny.pt"
    checkpoint.write_bytes(b"weights")
    base = folder()
    assert folder() == base
    assert len({base, folder(random_seed=1), folder(clip_model="shoplens-tiny-wide"), folder(clip_runtime="onnx"),
                folder(clip_pretrained=str(checkpoint))}) == 5  # fmt: skip
    with_checkpoint = folder(clip_pretrained=str(checkpoint))
    checkpoint.write_bytes(b"retrained weights")
    assert folder(clip_pretrained=str(checkpoint)) != with_checkpoint


@pytest.mark.parametrize("failure", ["disagrees", "cannot export"])
def test_a_runtime_that_cannot_serve_falls_back_to_fp32_torch(make_settings, tmp_path, monkeypatch, caplog, failure):
    if failure == "disagrees":
        monkeypatch.setattr(clip, "SAME_SPACE", 1.01)
        settings = make_settings()
    else:
        monkeypatch.setattr(clip_onnx, "export_towers", lambda *args, **kwargs: 1 / 0)
        settings = make_settings(model_cache_dir=tmp_path / "empty")
    with caplog.at_level(logging.WARNING, logger="engine.models.clip"):
        embedder = ClipEmbedder(settings)
        vectors = embedder.embed_texts(["lamp"])
    reference = ClipEmbedder(make_settings(clip_runtime="torch")).embed_texts(["lamp"])
    assert embedder.runtime == "torch" and "CLIP runs in torch fp32" in caplog.text
    np.testing.assert_allclose(vectors, reference, atol=1e-6)


@pytest.mark.parametrize("runtime", ["torch", "onnx-int8"])
def test_text_padding_is_cut_before_the_tower_and_the_vectors_stay_the_same(make_settings, runtime):
    """A few words reach the text tower as 8 tokens, not 77, and embed as open_clip's full forward does."""
    embedder = ClipEmbedder(make_settings(clip_runtime=runtime))
    texts = ["red shoes", "跑步鞋", "a wooden kitchen table with four chairs " * 12]  # the last fills all 77
    loaded = embedder._clip
    assert loaded.cut_padding
    lengths = []
    encode = loaded.towers.encode_text
    loaded.towers.encode_text = lambda tokens: lengths.append(tokens.shape[1]) or encode(tokens)
    try:
        short, long = embedder.embed_texts(texts[:1]), embedder.embed_texts(texts[2:])
    finally:
        loaded.towers.encode_text = encode
    assert lengths == [8, 77]
    with torch.no_grad():
        stock = torch.nn.functional.normalize(loaded.model.encode_text(loaded.tokenizer(texts)), dim=-1).numpy()
    got = np.concatenate([short, embedder.embed_texts(texts[1:2]), long])
    if runtime == "torch":
        np.testing.assert_allclose(got, stock, atol=1e-5)
    else:  # INT8 weights: the same space, as every runtime is checked
        assert (got * stock).sum(axis=1).min() >= 0.99
