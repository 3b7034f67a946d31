// FlowVQ Talker's frontend extension: a colour per emotion on the nodes that choose one, and a live plot of the
// generated curves on FlowVQ Preview Coefficients after each run (from the node's "ui" output, via onExecuted).
import { app } from "../../scripts/app.js";

const EMOTION_COLOURS = {
  angry: "#a33b3b",
  contempt: "#7a4a8c",
  disgusted: "#5d7a2e",
  fear: "#5b4fa0",
  happy: "#b08a1e",
  neutral: "#5f6368",
  sad: "#2f5f9e",
  surprised: "#c06a20",
  talking: "#2a8a80",
};
const CURVES = [
  ["jawOpen", "#e05555", 0, 1],
  ["blink", "#4c8ee6", 0, 1],
  ["yaw", "#38b4c4", -10, 10],
];
const PLOT_HEIGHT = 110;

// The emotion's colour mixed into the default dark grey, so titles and labels stay readable on it.
function darkened(hex, share = 0.3, base = [0x35, 0x35, 0x35]) {
  const channels = [1, 3, 5].map((i, k) => Math.round(share * parseInt(hex.slice(i, i + 2), 16) + (1 - share) * base[k]));
  return "#" + channels.map((c) => c.toString(16).padStart(2, "0")).join("");
}

function paintEmotion(node, emotion) {
  const colour = EMOTION_COLOURS[emotion];
  if (!colour) return;
  node.color = darkened(colour, 0.6);
  node.bgcolor = darkened(colour, 0.25);
  node.setDirtyCanvas?.(true, true);
}

function followEmotionWidget(node) {
  const widget = node.widgets?.find((w) => w.name === "emotion");
  if (!widget) return;
  const original = widget.callback;
  widget.callback = function (value, ...rest) {
    paintEmotion(node, value);
    return original?.call(this, value, ...rest);
  };
  paintEmotion(node, widget.value);
}

function drawCurves(node, ctx) {
  const curves = node.flowvqCurves;
  if (!curves || node.flags?.collapsed) return;
  const width = node.size[0] - 20;
  const top = node.size[1] - PLOT_HEIGHT - 8;
  ctx.save();
  ctx.fillStyle = "#1b1b1b";
  ctx.fillRect(10, top, width, PLOT_HEIGHT);
  let legend = 14;
  for (const [name, colour, low, high] of CURVES) {
    const values = curves[name] || [];
    if (values.length < 2) continue;
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach((value, i) => {
      const x = 10 + (i / (values.length - 1)) * width;
      const clamped = Math.min(high, Math.max(low, value));
      const y = top + PLOT_HEIGHT - ((clamped - low) / (high - low)) * PLOT_HEIGHT;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = colour;
    ctx.font = "10px sans-serif";
    ctx.fillText(name, legend, top + 11);
    legend += ctx.measureText(name).width + 10;
  }
  ctx.restore();
}

app.registerExtension({
  name: "flowvq.talker",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== "FlowVQPreviewCoefficients") return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const curves = message?.flowvq_curves?.[0];
      if (!curves) return;
      this.flowvqCurves = curves;
      if (this.size[1] < 220) this.setSize([Math.max(this.size[0], 320), 220]);
      this.setDirtyCanvas(true, true);
    };
    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      onDrawForeground?.apply(this, arguments);
      drawCurves(this, ctx);
    };
  },
  nodeCreated(node) {
    if (node.comfyClass?.startsWith("FlowVQ")) followEmotionWidget(node);
  },
  loadedGraphNode(node) {
    if (node.comfyClass?.startsWith("FlowVQ")) followEmotionWidget(node);
  },
});
