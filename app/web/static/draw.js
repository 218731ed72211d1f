// Drawing on the picture: a box (drag) or points on the tendon (clicks), in the image's own pixel coordinates.

const MIN_BOX_PX = 2; // a drag shorter than this is a slip, not a box

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

export class Sketch {
  /** `img`: the picture; `canvas`: laid over it; `onChange(sketch)` after every edit. */
  constructor(img, canvas, onChange) {
    this.img = img;
    this.canvas = canvas;
    this.onChange = onChange;
    this.mode = "box";
    this.box = null; // [x0, y0, x1, y1], half-open, image pixels
    this.points = []; // [[x, y], ...], image pixels
    this.drag = null;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", () => this.cancel());
    new ResizeObserver(() => this.redraw()).observe(img);
    img.addEventListener("load", () => this.redraw());
  }

  /** The image pixel under the pointer, as a point on the pixel grid (0..width, 0..height). */
  toImage(event) {
    const rect = this.canvas.getBoundingClientRect();
    const width = this.img.naturalWidth;
    const height = this.img.naturalHeight;
    const x = Math.round(((event.clientX - rect.left) * width) / rect.width);
    const y = Math.round(((event.clientY - rect.top) * height) / rect.height);
    return [clamp(x, 0, width), clamp(y, 0, height)];
  }

  down(event) {
    if (!this.img.naturalWidth || event.button !== 0) return;
    event.preventDefault();
    if (this.mode === "points") {
      const [x, y] = this.toImage(event);
      this.points.push([Math.min(x, this.img.naturalWidth - 1), Math.min(y, this.img.naturalHeight - 1)]);
      this.changed();
      return;
    }
    this.canvas.setPointerCapture(event.pointerId);
    this.drag = { start: this.toImage(event), end: this.toImage(event) };
    this.redraw();
  }

  move(event) {
    if (!this.drag) return;
    this.drag.end = this.toImage(event);
    this.redraw();
  }

  up(event) {
    if (!this.drag) return;
    this.drag.end = this.toImage(event);
    const [[ax, ay], [bx, by]] = [this.drag.start, this.drag.end];
    this.drag = null;
    if (Math.abs(bx - ax) >= MIN_BOX_PX && Math.abs(by - ay) >= MIN_BOX_PX) {
      this.box = [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)];
    }
    this.changed();
  }

  cancel() {
    this.drag = null;
    this.redraw();
  }

  setBox(box) {
    this.box = box;
    this.redraw();
  }

  setPoints(points) {
    this.points = points;
    this.redraw();
  }

  clear() {
    this.box = null;
    this.points = [];
    this.changed();
  }

  changed() {
    this.redraw();
    this.onChange(this);
  }

  redraw() {
    const rect = this.img.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(rect.width * ratio));
    this.canvas.height = Math.max(1, Math.round(rect.height * ratio));
    const ctx = this.canvas.getContext("2d");
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.img.naturalWidth) return;
    const sx = this.canvas.width / this.img.naturalWidth;
    const sy = this.canvas.height / this.img.naturalHeight;
    const box = this.drag ? [...this.drag.start, ...this.drag.end] : this.mode === "box" ? this.box : null;
    if (box) {
      const [x0, y0, x1, y1] = box;
      const rectArgs = [x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy];
      ctx.lineWidth = 4 * ratio;
      ctx.strokeStyle = "#000000";
      ctx.strokeRect(...rectArgs);
      ctx.lineWidth = 2 * ratio;
      ctx.setLineDash([6 * ratio, 4 * ratio]);
      ctx.strokeStyle = "#ffd400";
      ctx.strokeRect(...rectArgs);
      ctx.setLineDash([]);
    }
    if (this.mode === "points") {
      for (const [x, y] of this.points) {
        ctx.beginPath();
        ctx.arc((x + 0.5) * sx, (y + 0.5) * sy, 5 * ratio, 0, 2 * Math.PI);
        ctx.fillStyle = "#ffd400";
        ctx.fill();
        ctx.lineWidth = 2 * ratio;
        ctx.strokeStyle = "#000000";
        ctx.stroke();
      }
    }
  }
}
