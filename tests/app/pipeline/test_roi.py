"""User ROI parsing and validation."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from app.errors import InvalidROI
from app.pipeline.decode import Limits
from app.pipeline.roi import RoiSpec
from tests.app.corpus import video_bytes
from tests.conftest import png_bytes

LIMITS = Limits(max_bytes=10**7, max_frame_pixels=10**7, max_frames=10, max_total_pixels=10**8)


def test_rectangle_is_half_open():
    mask = RoiSpec.from_text(" 1, 2 ,4,5").to_mask(6, 8)
    assert mask.sum() == 3 * 3
    assert mask[2, 1] and mask[4, 3] and not mask[5, 4] and not mask[2, 4]


@pytest.mark.parametrize(
    "text",
    ["", "1,2,3", "a,b,c,d", "1,2,3,4,5", "5,5,5,9", "5,5,9,5", "-1,0,4,4", "1.5,2,3,4"],
    ids=["empty", "three", "letters", "five", "zero-width", "zero-height", "negative", "float"],
)
def test_bad_rectangles(text):
    with pytest.raises(InvalidROI):
        RoiSpec.from_text(text)


def test_rectangle_outside_image_names_the_size():
    with pytest.raises(InvalidROI, match="beyond the 8x6 image"):
        RoiSpec.from_text("0,0,9,6").to_mask(6, 8)


def test_mask_image_round_trip():
    mask = np.zeros((6, 8), dtype=np.uint8)
    mask[1:3, 2:5] = 255
    roi = RoiSpec.from_mask_image(png_bytes(np.repeat(mask[:, :, None], 3, axis=2)), LIMITS)
    assert roi.kind == "mask"
    np.testing.assert_array_equal(roi.to_mask(6, 8), mask > 0)


def test_mask_size_mismatch_and_empty_mask():
    roi = RoiSpec(mask=np.ones((4, 4), bool))
    with pytest.raises(InvalidROI, match="must match the image size"):
        roi.to_mask(5, 4)
    with pytest.raises(InvalidROI, match="no non-zero pixel"):
        RoiSpec(mask=np.zeros((4, 4), bool)).to_mask(4, 4)


def test_unreadable_mask_is_invalid_roi():
    with pytest.raises(InvalidROI, match="ROI mask could not be read"):
        RoiSpec.from_mask_image(b"not an image", LIMITS)


def test_exactly_one_of_rect_and_mask():
    with pytest.raises(InvalidROI):
        RoiSpec()


def test_an_unreadable_mask_says_what_a_mask_is():
    """The mask's own wording: a lossless image the size of the input, never "send an MP4 video"."""
    with pytest.raises(InvalidROI) as info:
        RoiSpec.from_mask_image(b"not an image", LIMITS)
    assert "Send the mask as a lossless PNG" in info.value.message and "MP4" not in info.value.message


def _mask_frame() -> np.ndarray:
    mask = np.zeros((48, 64, 3), np.uint8)
    mask[12:36, 16:48] = 255
    return mask


def test_a_jpeg_mask_is_refused_not_widened():
    """JPEG ringing leaves faint non-zero pixels around the edges: read as they are, the region grows."""
    ok, jpeg = cv2.imencode(".jpg", _mask_frame(), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok and (cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE) > 0).sum() > 24 * 32  # the widening it prevents
    with pytest.raises(InvalidROI, match=r"lossy compression \(jpeg\).*lossless PNG"):
        RoiSpec.from_mask_image(jpeg.tobytes(), LIMITS)


def test_a_video_mask_is_refused_before_it_is_decoded():
    with pytest.raises(InvalidROI, match=r"the mask is a video\. Send the mask as a lossless PNG"):
        RoiSpec.from_mask_image(video_bytes(np.random.default_rng(0), "mp4", "libx264", frames=2), LIMITS)


def test_a_multipage_tiff_mask_gets_the_masks_wording():
    pages = [Image.fromarray(_mask_frame()), Image.fromarray(255 - _mask_frame())]
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:])
    with pytest.raises(InvalidROI) as info:
        RoiSpec.from_mask_image(buffer.getvalue(), LIMITS)
    assert "2 pages" in info.value.message and "Send the mask as a lossless PNG" in info.value.message
    assert "video" not in info.value.message
