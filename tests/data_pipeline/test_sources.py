"""Training sources: COCO still images and benchmark splits from the dataset registry."""
import json

import cv2
import numpy as np
import pytest
import torch

from compresstracker.data import get_dataset, training_visibility
from compresstracker.data.coco import CocoSource
from compresstracker.data.pairs import DatasetSource, PairDataset, build_source
from compresstracker.data.synthetic import generate
from compresstracker.errors import DatasetError
from compresstracker.tracking.base import MEAN, STD

from .conftest import TINY


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    """Three images (blue, red, grey) and five annotations: two usable, one crowd, one tiny, one small."""
    root = tmp_path_factory.mktemp("coco")
    (root / "annotations").mkdir()
    images = root / "images" / "train2017"
    images.mkdir(parents=True)
    for name, bgr in (("blue.jpg", (200, 40, 40)), ("red.jpg", (40, 40, 200)), ("grey.jpg", (128, 128, 128))):
        cv2.imwrite(str(images / name), np.full((60, 80, 3), bgr, np.uint8))
    data = {
        "images": [{"id": 7, "file_name": "blue.jpg"}, {"id": 3, "file_name": "red.jpg"}, {"id": 9, "file_name": "grey.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 7, "bbox": [10, 10, 20, 15], "iscrowd": 0},
            {"id": 2, "image_id": 7, "bbox": [40, 30, 2, 3], "iscrowd": 0},  # tiny
            {"id": 3, "image_id": 3, "bbox": [5, 5, 30, 30], "iscrowd": 1},  # crowd
            {"id": 4, "image_id": 3, "bbox": [30, 20, 25, 18.5], "iscrowd": 0},
            {"id": 5, "image_id": 9, "bbox": [0, 0, 3.5, 40], "iscrowd": 0},  # one side under 4 px
        ],
    }
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(data))
    return root


def test_coco_keeps_non_crowd_boxes_that_are_not_tiny(coco_root):
    source = build_source("coco", coco_root)
    assert isinstance(source, CocoSource) and not source.is_video and len(source) == 2
    first, second = source[0], source[1]
    assert first.frames == [str(coco_root / "images" / "train2017" / "blue.jpg")]
    np.testing.assert_array_equal(first.boxes, [[10, 10, 20, 15]])
    assert second.frames[0].endswith("red.jpg") and second.boxes.tolist() == [[30, 20, 25, 18.5]]
    assert second.visible.tolist() == [True] and source.visible_counts().tolist() == [1, 1]
    assert len(CocoSource(coco_root, min_size=1.0)) == 4  # the tiny ones come back, the crowd never


def test_coco_pairs_take_template_and_search_from_one_image(coco_root):
    pairs = PairDataset([(CocoSource(coco_root), 1.0)], 40, TINY, seed=0, augment=False)
    colours = set()
    for index in range(40):
        item = pairs[index]
        assert item["valid"].item()
        template_colour = int(item["template"].mean(dim=(1, 2)).argmax())
        # the search crop may hold padding, but its brightest channel is the template's
        search = item["search"] * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
        assert int(search.sum(dim=(1, 2)).argmax()) == template_colour
        colours.add(template_colour)
    assert colours == {0, 2}  # red and blue images both drawn


def test_coco_layout_errors(tmp_path, coco_root):
    with pytest.raises(DatasetError, match="instances_train2017.json"):
        CocoSource(tmp_path)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "images" / "train2017").mkdir(parents=True)
    (tmp_path / "annotations" / "instances_train2017.json").write_text('{"images": []}')
    with pytest.raises(DatasetError, match="not a COCO instances file"):
        CocoSource(tmp_path)


def test_benchmark_split_as_a_source(tmp_path):
    generate("lasot", tmp_path, sequences=3, frames=24, seed=0, image_size=(96, 72))
    dataset = get_dataset("synthetic", tmp_path, split="all")
    source = build_source("synthetic", tmp_path, "all")
    assert isinstance(source, DatasetSource) and source.is_video and len(source) == len(dataset) == 3
    hidden = 0
    for i, sequence in enumerate(dataset.sequences):
        expected = training_visibility(sequence)
        np.testing.assert_array_equal(source[i].visible, expected)
        assert not expected[~sequence.target_visible].any()  # occluded or out of view: never a sample
        np.testing.assert_array_equal(source[i].boxes, sequence.ground_truth)
        assert source[i].frames == sequence.frames
        hidden += int((~expected).sum())
    assert hidden > 0  # the generated targets leave the view or get occluded somewhere
    np.testing.assert_array_equal(source.visible_counts(), [s.visible.sum() for s in (source[i] for i in range(3))])
    pairs = PairDataset([(source, 1.0)], 12, TINY, seed=0)
    assert all(pairs[i]["valid"].item() for i in range(12))
