import numpy as np
import pytest
from PIL import Image

from engine.errors import ModelUnavailableError
from engine.models.clip import ClipEmbedder


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
    import torch

    source = ClipEmbedder(make_settings(random_seed=7))
    checkpoint = tmp_path / "tiny.pt"
    torch.save(source._clip.model.state_dict(), checkpoint)
    loaded = ClipEmbedder(make_settings(clip_pretrained=str(checkpoint)))
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
