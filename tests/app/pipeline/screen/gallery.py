"""A gallery of synthetic scanner screens with known truth, for the screen-parsing tests.

Each family follows one layout convention seen on real scanners (named after the vendor whose screens
it imitates; the pixels are drawn here, nothing is copied from a real screen):

* ``ge_cf`` — a GE LOGIQ-like colour-flow screen: a dark blue header banner with white text and a round
  logo, the colour bar at the left edge of the screen (blue over red) with a grey scale bar beside it,
  a steered parallelogram box drawn in a thin grey line, parameter text down the right side;
* ``ge_pd`` — the same screen in power Doppler: a mirrored orange power bar, a grey rectangular box;
* ``ge_sector`` — the same UI with a curved probe: a fan picture and a grey annular-sector box;
* ``green_pd`` — a power Doppler picture with a thin green rectangular box, an orange power bar on the
  right and cyan text on black;
* ``mindray_cf`` — a Mindray-like screen: a bluish-tinted grey scale bar beside the colour bar on the
  right (touching it on the linear screen), cyan text, a near-white (230) steered parallelogram (linear
  probe) or sector (convex probe);
* ``trapezoid`` — a virtual-convex (trapezoid) picture with a dotted yellow trapezoid box and a
  horizontal colour bar at the top (a known limit under JPEG q75: the 1-px dots lose their chroma, the box
  falls back to the colour extent, flagged; :attr:`Spec.limit`);
* ``dashed_green_pd``, ``yellow_sector`` — the ``green_pd`` screen with its box in yellow anti-aliased dashes
  (lossless only: under JPEG the dashes lose their chroma as the trapezoid's dots do, and a side of dashes may
  then pass for a caliper), the ``ge_sector`` screen with its sector in a 1 px yellow line (as JPEG too);
* ``narrow_bar`` — the ``ge_cf`` screen with a colour bar 8 px wide, as JPEG too;
* ``tablet`` — a tablet-app screen: the colour bar drawn inside the picture's corner, a yellow box with
  anti-aliased edges;
* ``extent`` — a screen exported without the box outline: only the flow and the bar show where it is;
* ``treated``, ``treated_mark`` — the power Doppler screen after treatment: a grey box and nothing flowing, and
  the same with one orange focus dot (a legend colour) on the picture outside the box;
* ``touch_pd`` — a touch-screen power Doppler screen: flat coloured buttons and mode chips with white labels
  beside the picture, bold yellow annotation on the picture, an orange power bar among the buttons;
* negatives: ``mindray_bmode`` (tinted grey bar, no Doppler), ``ge_spectral`` (B-mode with a grey
  spectral strip and a yellow baseline), ``banner_bmode`` (a gradient colour banner and coloured text),
  ``touch_bmode`` (the touch screen's buttons and chips, bold yellow and green annotation on the picture).

Every screen is drawn at a design size of 480x640 and scaled to the height asked for (a wider screen keeps
the extra width, black, on the right), with tendon-like speckle (bright fibres up to 255), UI text (``cv2.putText``),
a header banner, a logo, depth ticks, the Doppler box outline with flow inside it and the colour bar.
Encodings: lossless, JPEG q75, H.264 (yuv420p), interlaced (alternate lines from two fields, the flow
and speckle moved between them) and interlaced then H.264.

:func:`gallery` lists the screens (:class:`Spec`); :func:`render` (``gallery_draw.py``, how a screen is drawn)
draws one into a :class:`Case`: frames ``(N, H, W, 3) uint8`` RGB and the :class:`Truth`.
"""

from __future__ import annotations

from dataclasses import replace

from tests.app.pipeline.screen.gallery_draw import (
    CYAN_TEXT,
    GE_BLUE,
    GE_GREY,
    GREEN,
    WHITE,
    YELLOW,
    Bar,
    Box,
    Case,
    Layout,
    Rgb,
    Spec,
    Truth,
    colour_map,
    render,
)

__all__ = ["Case", "Layout", "Spec", "Truth", "colour_map", "gallery", "render"]


# --- families ------------------------------------------------------------------------------------------------------

GE_TEXT = (
    ("Frq 12.0 MHz", 480, 70, WHITE, 0.4),
    ("Gn 34", 480, 86, WHITE, 0.4),
    ("D 3.0 cm", 480, 102, WHITE, 0.4),
    ("CF", 480, 130, WHITE, 0.45),
    ("PRF 1.0 kHz", 480, 146, WHITE, 0.4),
    ("WF 66 Hz", 480, 162, WHITE, 0.4),
    ("AO 100%", 480, 178, (230, 200, 60), 0.4),
)


def ge_cf(steer: float = -40.0) -> Layout:
    """GE LOGIQ-like colour flow, linear probe: grey steered parallelogram, bar at the left edge, blue over red."""
    return Layout(
        picture=("rect", 150, 60, 420, 330),
        box=Box("parallelogram", top=95, bottom=250, left=230 - steer / 2, right=360 - steer / 2, shift=steer),
        bar=Bar("blue_over_red", 14, 110, 110, width=10, grey_beside="grey", grey_gap=3),
        banner=(GE_BLUE, GE_BLUE),
        logo=True,
        texts=GE_TEXT,
        marks=(("triangle", 425, 160, (230, 200, 60)), ("dot", 160, 70, (80, 200, 90))),
        flow_map="blue_over_red",
        ticks=430,
    )


def ge_pd() -> Layout:
    """GE-like power Doppler: grey rectangle, mirrored power bar at the left edge with a grey bar."""
    return replace(
        ge_cf(),
        box=Box("rectangle", top=110, bottom=260, left=200, right=380),
        bar=Bar("power_mirrored", 14, 110, 110, width=10, grey_beside="grey", grey_gap=0),
        flow_map="power_mirrored",
        texts=(*GE_TEXT[:3], ("PDI", 480, 130, WHITE, 0.45)),
    )


def ge_sector() -> Layout:
    """GE-like curved probe: a fan picture and a grey annular-sector box."""
    return replace(
        ge_cf(),
        picture=("fan", 300, 20, 60, 420, 35),
        box=Box("sector", apex=(300, 20), radii=(140, 330), angles=(-18, 14)),
        ticks=530,
    )


def green_pd() -> Layout:
    """A power Doppler picture with a thin green rectangle, an orange ramp on the right, cyan text."""
    return Layout(
        picture=("rect", 70, 50, 520, 420),
        box=Box("rectangle", top=120, bottom=300, left=180, right=420, colour=GREEN),
        bar=Bar("power", 590, 90, 140, width=12, labels=False),
        texts=(
            ("PWR 70%  PRF 750", 80, 30, CYAN_TEXT, 0.5),
            ("L12-5 MSK", 80, 450, CYAN_TEXT, 0.5),
            ("4.0", 540, 100, WHITE, 0.4),
        ),
        marks=(("dot", 70, 40, GREEN),),
        flow_map="power",
        ticks=530,
    )


MINDRAY_TEXT = (
    ("AP 96.6%  MI 1.3  TIS 0.2", 6, 30, CYAN_TEXT, 0.4),
    ("DC-8", 560, 30, CYAN_TEXT, 0.6),
    ("F H9.0", 560, 60, CYAN_TEXT, 0.4),
    ("G 57", 560, 76, CYAN_TEXT, 0.4),
    ("CF", 560, 100, CYAN_TEXT, 0.45),
    ("PRF 1.2k", 560, 116, CYAN_TEXT, 0.4),
)


def mindray_cf(convex: bool = False) -> Layout:
    """Mindray-like colour flow: the colour bar on the right with a tinted grey bar beside it (touching it on the
    linear screen), a near-white box."""
    gap = 2.0 if convex else 0.0
    if convex:
        picture: tuple = ("fan", 300, 30, 50, 430, 30)
        box = Box("sector", apex=(300, 30), radii=(120, 300), angles=(-20, 20), colour=(230, 230, 230))
    else:
        picture = ("rect", 100, 70, 470, 400)
        box = Box("parallelogram", top=110, bottom=280, left=250, right=380, shift=60, colour=(230, 230, 230))
    return Layout(
        picture=picture,
        box=box,
        bar=Bar("red_over_blue", 525, 60, 120, width=9, grey_beside="tinted_grey", grey_gap=gap, grey_after=False),
        texts=MINDRAY_TEXT,
        marks=(("m", 60, 90, (150, 220, 250)),),
        flow_map="red_over_blue",
        ticks=490,
    )


def trapezoid() -> Layout:
    """Virtual-convex picture, a dotted yellow trapezoid box, a horizontal bar at the top."""
    return Layout(
        picture=("trap", 60, 420, 180, 460, 90),
        box=Box("trapezoid", top=100, bottom=300, left=250, right=400, shift=45, colour=YELLOW, dotted=2),
        bar=Bar("red_over_blue", 250, 20, 150, width=10, horizontal=True),
        texts=(("C 2.5  PRF 2000", 10, 50, (240, 240, 120), 0.45), ("L 9-3", 540, 50, WHITE, 0.45)),
        flow_map="red_over_blue",
        ticks=570,
    )


def tablet() -> Layout:
    """Tablet-app screen: the colour bar inside the picture's top-right corner, a yellow box, anti-aliased."""
    return Layout(
        picture=("rect", 40, 40, 600, 440),
        box=Box("parallelogram", top=130, bottom=330, left=220, right=380, shift=-50, colour=YELLOW, antialiased=True),
        bar=Bar("red_over_blue", 570, 60, 130, width=12, labels=False),
        texts=(("Colour  PRF 1.5 kHz", 50, 30, WHITE, 0.5), ("MSK", 540, 460, (120, 220, 240), 0.5)),
        flow_map="red_over_blue",
    )


def treated() -> Layout:
    """After treatment: the power Doppler screen with its bar and a thick grey box (3 rows), and no flow at all."""
    layout = ge_pd()
    return replace(layout, box=replace(layout.box, thickness=2), flow_map=None)


def treated_mark() -> Layout:
    """After treatment, with one orange dot (a legend colour) on the picture outside the box: a focus mark."""
    layout = treated()
    return replace(layout, marks=(*layout.marks, ("dot", 170, 300, (235, 80, 0))))


def from_skin(steer: float = -40.0) -> Layout:
    """A box started at the skin: its light grey top line lies in the bright skin line along the picture's top and
    is lost in it; the bottom and the two sides show (GE-like colour flow, a steered parallelogram or a rectangle)."""
    layout = ge_cf(steer)
    top, light = layout.picture[2] + 2, (222, 222, 222)  # a line within the skin line's levels
    box = (
        replace(layout.box, top=top, bottom=235, colour=light)
        if steer
        else Box("rectangle", top=top, bottom=250, left=200, right=380, colour=light)
    )
    return replace(layout, box=box, skin=True, marks=layout.marks[:1])


def to_border(hidden: str) -> Layout:
    """A grey rectangle taken past the picture's left border, and past its bottom (``hidden`` "bottom"), its top
    in the skin line (``hidden`` "top"), or neither ("side"): only the lines on the picture are drawn, the box
    ends at the picture's edges."""
    layout = ge_cf()
    _, _, top, _, bottom = layout.picture
    rows = {"bottom": (140, bottom + 20), "top": (top + 2, 250), "side": (100, 250)}[hidden]
    box = Box("rectangle", top=rows[0], bottom=rows[1], left=130, right=330, colour=(222, 222, 222))
    return replace(layout, box=box, skin=hidden == "top", clip_box=True, marks=layout.marks[:1])


def steered_past() -> Layout:
    """A GE-like steered parallelogram whose lower left corner lies past the picture's left border: its outline is
    drawn whole, over the black beside the picture too, and flow is painted on the picture only."""
    layout = ge_cf()
    box = replace(layout.box, left=170.0, right=330.0)  # the bottom corners 40 px further left
    return replace(layout, box=box, clip_box=True, clip_outline=False)


def strip_in_box(horizontal: bool) -> Layout:
    """GE-like power Doppler with a patch of flow inside the box painted as one smooth strip of the power ramp, as
    long and as even as a legend: a wide vessel, vertical near the box's side or lying along its bottom."""
    layout = ge_pd()
    strip = (
        Bar("power_mirrored", 230, 236, 100, width=14, horizontal=True, labels=False)
        if horizontal
        else Bar("power_mirrored", 358, 140, 90, width=14, labels=False)
    )
    return replace(layout, flow_strip=strip)


NAVY: Rgb = (8, 19, 41)  # a dark blue panel: its chroma is under the threshold, a codec's smear of a bar's is not


def navy_cf() -> Layout:
    """A dark blue interface (several vendors' recent consoles): a narrow colour bar on the blue panel right of the
    picture, and a light grey steered parallelogram whose sides cross a tendon as bright as the line along a
    quarter of their length."""
    return Layout(
        picture=("rect", 90, 60, 470, 400),
        box=Box("parallelogram", top=110, bottom=300, left=200, right=380, shift=60, colour=(203, 203, 203)),
        bar=Bar("red_over_blue", 520, 90, 110, width=6),
        banner=((22, 39, 76), (22, 39, 76)),
        panel=NAVY,
        texts=(("CF 4.8MHz", 10, 120, (200, 210, 230), 0.45), ("cm/s", 515, 230, WHITE, 0.35)),
        flow_map="red_over_blue",
        band=(160, 203),
        ticks=475,
    )


def fascia_from_skin() -> Layout:
    """A box started at the skin (its top line lost in the skin line) over a fascia as bright as its line, seen inside
    the box: the fascia and the box's bottom make a four-sided outline with the box's sides, which run on past the
    fascia to the top."""
    return replace(from_skin(), fascia=150.0)


def band_from_skin() -> Layout:
    """A box started at the skin, its sides light grey, over a bright tendon across it, with flow only below the tendon:
    the skin line, the tendon's top and the two sides close a light loop that holds none of the flow."""
    layout = from_skin(0.0)
    return replace(layout, box=replace(layout.box, colour=(235, 235, 235)), band=(150, 158), flow_below=164.0)


def extent() -> Layout:
    """A screen exported without the box outline: flow and the bar only."""
    layout = ge_cf()
    return replace(layout, box=replace(layout.box, drawn=False))


def mindray_bmode() -> Layout:
    return Layout(
        picture=("rect", 110, 70, 500, 420),
        grey_bar=Bar("tinted_grey", 545, 40, 110, width=10, labels=False),
        texts=(*MINDRAY_TEXT[:4], ("B", 560, 100, CYAN_TEXT, 0.45)),
        marks=(("m", 60, 90, (150, 220, 250)),),
        ticks=520,
    )


def ge_spectral() -> Layout:
    return Layout(
        picture=("rect", 180, 48, 345, 255),
        grey_bar=Bar("grey", 24, 100, 110, width=9, labels=False),
        banner=(GE_BLUE, GE_BLUE),
        logo=True,
        texts=(*GE_TEXT[:3], ("PW", 510, 370, WHITE, 0.45), ("PRF 4.6 kHz", 510, 386, WHITE, 0.4)),
        marks=(("triangle", 350, 120, (230, 200, 60)),),
        spectral=True,
        ticks=470,
    )


def banner_bmode() -> Layout:
    return Layout(
        picture=("rect", 120, 60, 520, 430),
        banner=((20, 60, 160), (0, 0, 0)),
        banner_h=36,
        texts=(("Gain 55  DR 60", 10, 60, (120, 230, 120), 0.45), ("LA", 540, 80, (250, 200, 60), 0.6)),
        marks=(("triangle", 525, 150, (250, 200, 60)),),
        ticks=530,
    )


TOUCH_BUTTONS = (
    (515, 60, 110, 26, (30, 160, 60), "Freeze"),
    (515, 94, 110, 26, (30, 90, 200), "Depth"),
    (515, 128, 110, 26, (200, 40, 40), "Gain"),
    (515, 162, 110, 26, (230, 180, 20), "Zoom"),
    (515, 196, 110, 26, (120, 60, 180), "Focus"),
    (8, 60, 52, 18, (235, 120, 20), "CF"),
    (8, 84, 52, 18, (20, 150, 150), "PW"),
    (8, 108, 52, 18, (30, 90, 200), "B"),
)


def touch_bmode() -> Layout:
    """A touch-screen B-mode screen: flat coloured buttons and mode chips with white labels beside the picture,
    and bold yellow and green annotation on the picture; no Doppler."""
    return Layout(
        picture=("rect", 80, 50, 500, 440),
        buttons=TOUCH_BUTTONS,
        texts=(("DOPPLER", 100, 380, (20, 210, 20), 0.9), ("ACHILLES LT", 100, 420, (250, 240, 0), 0.9)),
        ticks=505,
    )


def touch_pd() -> Layout:
    """The touch screen in power Doppler: a rectangular box and an orange power bar among the buttons."""
    return replace(
        touch_bmode(),
        box=Box("rectangle", top=120, bottom=330, left=180, right=420, colour=GE_GREY),
        bar=Bar("power", 515, 240, 130, width=10, labels=False),
        texts=(("ACHILLES LT", 100, 420, (250, 240, 0), 0.9),),
        flow_map="power",
    )


def dashed_green_pd() -> Layout:
    """The green power Doppler screen with its box drawn as yellow anti-aliased dashes (4 px on, 4 off)."""
    layout = green_pd()
    return replace(layout, box=replace(layout.box, colour=YELLOW, antialiased=True, dotted=4))


def yellow_sector() -> Layout:
    """The GE-like curved-probe screen with its sector box drawn in a 1 px yellow line."""
    layout = ge_sector()
    return replace(layout, box=replace(layout.box, colour=YELLOW))


def narrow_bar(width: float) -> Layout:
    """The GE-like colour-flow screen with a narrow bar (8 px on the screens it is drawn at): under JPEG, the blend
    with the screen beside it is a large share of each row."""
    layout = ge_cf()
    return replace(layout, bar=replace(layout.bar, width=width))


SIZES = ((480, 640), (600, 800), (768, 1024), (720, 1280), (1080, 1920))


def gallery() -> list[Spec]:
    """The gallery: each family at several sizes and encodings."""
    specs = []

    def add(family, layout, sizes, encodings, frames=1, side=None, seeds=(0,), limit=None):
        for size in sizes:
            for encoding in encodings:
                for seed in seeds:
                    specs.append(Spec(family, layout, size, encoding, frames, seed, side, limit))

    add("ge_cf", ge_cf(), [(480, 640)], ["png", "jpeg", "h264"], side="left", seeds=(0, 1))
    add("ge_cf", ge_cf(), [(480, 640)], ["interlaced", "interlaced_h264"], frames=3, side="left")
    add("ge_cf", ge_cf(steer=35.0), [(768, 1024), (1080, 1920)], ["png", "h264"], side="left")
    add("ge_pd", ge_pd(), [(480, 640), (600, 800)], ["png", "jpeg", "h264"], side="left")
    add("ge_sector", ge_sector(), [(480, 640), (720, 1280)], ["png", "jpeg"], side="left")
    add("green_pd", green_pd(), [(480, 640), (768, 1024)], ["png", "jpeg", "h264"], side="right")
    add("mindray_cf", mindray_cf(), [(480, 640), (1080, 1920)], ["png", "jpeg"], side="right")
    add("mindray_cf_convex", mindray_cf(convex=True), [(600, 800), (720, 1280)], ["png", "jpeg"], side="right")
    add("trapezoid", trapezoid(), [(480, 640), (768, 1024)], ["png"], side="top")
    add("trapezoid", trapezoid(), [(480, 640), (768, 1024)], ["jpeg"], side="top", limit="extent")
    add("tablet", tablet(), [(720, 1280), (1080, 1920)], ["png", "h264"], side="inside")
    add("treated", treated(), [(480, 640), (1080, 1920)], ["png", "jpeg"], side="left")
    add("treated_mark", treated_mark(), [(480, 640), (1080, 1920)], ["png", "jpeg"], side="left")
    add("from_skin", from_skin(), [(480, 640), (1080, 1920)], ["png", "jpeg", "h264"], side="left")
    add("from_skin", from_skin(0.0), [(600, 800)], ["png", "jpeg"], side="left")
    add("extent", extent(), [(480, 640)], ["png", "jpeg"], side="left")
    add("steered_past", steered_past(), [(480, 640), (720, 1280)], ["png", "jpeg"], side="left")
    for hidden in ("bottom", "top", "side"):
        add(f"to_border_{hidden}", to_border(hidden), [(480, 640), (1080, 1920)], ["png", "jpeg"], side="left")
    add("fascia_from_skin", fascia_from_skin(), [(480, 640), (768, 1024)], ["png", "jpeg"], side="left")
    add("band_from_skin", band_from_skin(), [(480, 640), (1080, 1920)], ["png", "jpeg"], side="left")
    add("strip_in_box", strip_in_box(False), [(480, 640), (1080, 1920)], ["png", "jpeg"], side="left")
    add("strip_in_box_lying", strip_in_box(True), [(480, 640), (768, 1024)], ["png", "h264"], side="left")
    add("navy_cf", navy_cf(), [(480, 640), (720, 1280)], ["png", "jpeg", "h264"], side="right")
    add("mindray_bmode", mindray_bmode(), [(480, 640), (1080, 1920)], ["png", "jpeg"])
    add("ge_spectral", ge_spectral(), [(480, 640)], ["png", "h264"])
    add("banner_bmode", banner_bmode(), [(600, 800)], ["png", "jpeg"])
    add("touch_bmode", touch_bmode(), [(480, 640), (768, 1024)], ["png", "jpeg"])
    add("narrow_bar", narrow_bar(8.0), [(480, 640)], ["png", "jpeg"], side="left", seeds=(0, 1))
    add("dashed_green_pd", dashed_green_pd(), [(600, 800), (768, 1024)], ["png"], side="right")
    add("yellow_sector", yellow_sector(), [(600, 800), (720, 1280)], ["png", "jpeg"], side="left")
    add("narrow_bar", narrow_bar(5.0), [(768, 1024)], ["jpeg"], side="left", seeds=(0, 1))
    add("touch_pd", touch_pd(), [(600, 800)], ["png", "jpeg"], side="right")
    return specs
