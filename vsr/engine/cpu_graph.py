"""The CPU inference graph: a model rewritten for oneDNN, with its activations fused into the convolutions.

Under plain bf16 autocast less than 40% of a CPU forward pass is convolution: the rest is
ReLU passes over the activations, dtype casts before and after every layer, and a pixel
shuffle of float planes. Here the model is traced once with torch.fx and rewritten:

- each convolution becomes a oneDNN convolution with its weights cast and laid out once, and a
  ReLU or tanh that only it feeds is fused into it;
- activations stay in bf16 between layers; the bicubic skip stays fp32 (see `BicubicSkip`), and
  the first convolution, which sees the image itself, runs in bf16 only where the image is exact
  in bf16 (8-bit samples, see `build_cpu_graph`), else in fp32 (see `InputConv`);
- a final pixel shuffle is left out: the engine quantises the (N, s*s, H, W) output and
  shuffles 8-bit samples, a quarter of the bytes.

The 8-bit output stays within one level of the fp32 model, and no further from it than the
model under autocast (tests compare them for every shipped model).
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from vsr.models.layers import BicubicSkip, InputConv

_RELU_CALLS = {F.relu, F.relu_, torch.relu, torch.relu_}
_FUSABLE_MODULES = {nn.ReLU: "relu", nn.Tanh: "tanh"}
_TRACEABLE = ("torch.nn.", "vsr.models.")


@dataclass
class CpuGraph:
    """A model prepared for the CPU engine.

    module: (N, 1, H, W) luma → (N, s*s, H, W) sub-pixel phases in [0, 1] units when `shuffled`
    is False (to be pixel-shuffled by the caller), else the (N, 1, sH, sW) image.
    input_dtype, levels: the luma goes in as this dtype, in sample levels (0…max_value) when
    `levels`, else divided by max_value as the model was trained.
    radius: low-resolution pixels each output pixel depends on, at most (for tiling).
    """

    module: nn.Module
    shuffled: bool
    radius: int
    levels: bool
    input_dtype: torch.dtype


class FusedConv(nn.Module):
    """A convolution (with an optional fused activation) through oneDNN's pointwise-fused kernel."""

    def __init__(
        self,
        conv: nn.Conv2d,
        activation: str,
        dtype: torch.dtype,
        out_dtype: torch.dtype,
        input_scale: float = 1.0,
        split_weights: bool = False,
    ) -> None:
        super().__init__()
        self.dtype, self.out_dtype = dtype, out_dtype
        self.activation = activation
        weight = conv.weight.detach() * input_scale
        self.split = split_weights and conv.groups == 1
        if self.split:
            # bf16 weights with a 16-bit mantissa: W = hi + lo, the input fed twice (x, x)
            # against (hi, lo), so oneDNN sums both in fp32 within one convolution
            high = weight.to(dtype)
            weight = torch.cat([high, (weight - high.float()).to(dtype)], dim=1)
        weight = weight.to(dtype).contiguous(memory_format=torch.channels_last)
        # the bias stays fp32 (oneDNN adds it to the fp32 accumulator): a bf16 bias shifts every
        # output of a channel the same way, and on espcn x4 that put pixels 3 levels from fp32
        bias = conv.bias.detach().float() if conv.bias is not None else None
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.stride, self.dilation, self.groups = list(conv.stride), list(conv.dilation), conv.groups
        # oneDNN pads with zeros only: other padding modes are applied before the call
        self.pad_mode = None if conv.padding_mode == "zeros" else conv.padding_mode
        pad_y, pad_x = conv.padding  # type: ignore[misc]
        self.explicit_pad = (pad_x, pad_x, pad_y, pad_y)
        self.padding = [0, 0] if self.pad_mode else [pad_y, pad_x]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        if self.split:
            x = torch.cat([x, x], dim=1)
        if self.pad_mode is not None:
            x = F.pad(x, self.explicit_pad, mode=self.pad_mode)
        x = x.contiguous(memory_format=torch.channels_last)
        y = torch.ops.mkldnn._convolution_pointwise(
            x, self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups,
            self.activation, [], "",
        )
        return y.to(self.out_dtype)


class _Tracer(fx.Tracer):
    """torch.fx's tracer, for the thread that traces only: while it traces, torch.fx patches
    `nn.Module.__call__` and `__getattr__` for the whole process, and a module called in another
    thread meanwhile (another run's, the embedding program's own) failed with "module is not
    installed as a submodule"; such calls run as they would without the trace."""

    def __init__(self) -> None:
        super().__init__(autowrap_modules=(), autowrap_functions=())  # no patch of `math` for every thread: vsr's layers use none
        self.thread = threading.get_ident()

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, (nn.Conv2d, BicubicSkip)) or super().is_leaf_module(module, qualified_name)

    def call_module(self, m: nn.Module, forward: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if threading.get_ident() != self.thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if threading.get_ident() != self.thread:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def _fusable_activation(node: fx.Node, modules: dict[str, nn.Module]) -> str | None:
    if node.op == "call_module":
        return _FUSABLE_MODULES.get(type(modules[str(node.target)]))
    if node.op == "call_function" and node.target in _RELU_CALLS:
        return "relu"
    if node.op == "call_method" and node.target in ("relu", "relu_"):
        return "relu"
    if node.op == "call_function" and node.target in (torch.tanh,):
        return "tanh"
    return None


def _is_pixel_shuffle(node: object, modules: dict[str, nn.Module]) -> bool:
    if not isinstance(node, fx.Node):
        return False
    if node.op == "call_function":
        return node.target is F.pixel_shuffle or node.target is torch.pixel_shuffle
    return node.op == "call_module" and isinstance(modules[str(node.target)], nn.PixelShuffle)


def receptive_radius(module: nn.Module) -> int:
    """An upper bound on how far (in input pixels) an output pixel sees: the sum of every conv's reach."""
    radius = 0
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            reach = [d * (k - 1) // 2 for d, k in zip(layer.dilation, layer.kernel_size)]
            radius += max(reach)
        elif isinstance(layer, BicubicSkip):
            radius += 2
    return radius


GRAPH_BYTES_HELD = 64 * 2**20
"""The weights of the graphs kept for reuse (see cpu_graph), at most: the latest few models x
precisions x sample depths (the shipped ones take 0.1–1.5 MB each); the newest is kept whatever its size."""
_graphs: OrderedDict[tuple[str, str, int], CpuGraph] = OrderedDict()
_building = threading.RLock()


def cpu_graph(module: nn.Module, precision: str, max_value: int = 255) -> CpuGraph:
    """build_cpu_graph's graph of `module`, built once for its layers, their settings and weights,
    `precision` and `max_value`, and reused (up to GRAPH_BYTES_HELD): a program that upscales one
    video after another loads the model afresh each time, and each build leaves torch.fx's
    generated code in memory for good. The graph holds no state of a run, so runs in several
    threads share it."""
    key = (_fingerprint(module), precision, max_value)
    with _building:
        graph = _graphs.pop(key, None) or build_cpu_graph(module, precision, max_value)
        _graphs[key] = graph
        while len(_graphs) > 1 and sum(_weight_bytes(g.module) for g in _graphs.values()) > GRAPH_BYTES_HELD:
            _graphs.popitem(last=False)
    return graph


def _weight_bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


_SETTINGS = (bool, int, float, str, tuple, type(None))
"""The kinds of a layer's plain attributes that a trace bakes into the graph (a scale, a residual
weight, a switch), which the layer's printed form may not show."""


def _fingerprint(module: nn.Module) -> str:
    """SHA-256 of what a graph is built from: the module's layers (their classes and plain
    settings) and every parameter and buffer."""
    digest = hashlib.sha256(repr(module).encode())
    for layer in module.modules():
        settings = sorted((name, repr(value)) for name, value in vars(layer).items()
                          if not name.startswith("_") and name != "training" and isinstance(value, _SETTINGS))
        digest.update(f"{type(layer).__module__}.{type(layer).__qualname__}{settings}".encode())
    for name, tensor in (*module.named_parameters(), *module.named_buffers()):
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{data.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def build_cpu_graph(module: nn.Module, precision: str, max_value: int = 255) -> CpuGraph:
    """Trace `module` (eval mode) and rewrite it for the CPU; raises if it cannot be traced.

    Only modules built from torch.nn and vsr.models layers qualify: tracing freezes Python
    control flow, which is right for those and wrong for a module with state of its own.

    Where the image only feeds the first convolution and the bicubic skip (both linear), they
    take it in sample levels, with 1/max_value folded into their weights: 8-bit levels are
    exact in bf16, so the first convolution runs in bf16 too, without rounding the image.
    """
    foreign = {type(m).__qualname__ for m in module.modules() if not type(m).__module__.startswith(_TRACEABLE)}
    if foreign:
        raise TypeError(f"not built from known layers: {', '.join(sorted(foreign))}")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    module = copy.deepcopy(module).eval()
    with _building:  # two traces at once undo each other's patches of torch
        graph = _Tracer().trace(module)
    gm = fx.GraphModule(module, graph)
    modules = dict(gm.named_modules())
    image = next(n for n in gm.graph.nodes if n.op == "placeholder")
    levels = all(u.op == "call_module" and isinstance(modules[str(u.target)], (InputConv, BicubicSkip)) for u in image.users)
    input_scale = 1.0 / max_value if levels else 1.0
    exact_in_half = levels and max_value <= 256
    input_dtype = dtype if exact_in_half else torch.float32
    if levels:
        for user in image.users:
            layer = modules[str(user.target)]
            if isinstance(layer, BicubicSkip):
                layer.weight.mul_(input_scale)

    shuffled = True
    output = next(n for n in gm.graph.nodes if n.op == "output")
    result = output.args[0]
    if _is_pixel_shuffle(result, modules):
        output.args = (result.args[0],)
        gm.graph.erase_node(result)
        shuffled = False

    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[str(node.target)], nn.Conv2d):
            continue
        conv = modules[str(node.target)]
        users = list(node.users)
        activation = _fusable_activation(users[0], modules) if len(users) == 1 else None
        if activation is not None:
            users[0].replace_all_uses_with(node)
            gm.graph.erase_node(users[0])
        if isinstance(conv, InputConv):
            # it sees the image itself: fp32 unless the image is exact in bf16, and then with split
            # weights, since rounding this layer's weights costs as much as rounding the image
            fused = FusedConv(conv, activation or "none", input_dtype, dtype, input_scale, exact_in_half)
        else:
            fused = FusedConv(conv, activation or "none", dtype, dtype)
        gm.add_submodule(str(node.target), fused)
    _cast_other_parameters(gm, dtype)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return CpuGraph(gm, shuffled, receptive_radius(module), levels, input_dtype)


def _cast_other_parameters(gm: fx.GraphModule, dtype: torch.dtype) -> None:
    """PReLU slopes and the like follow the activations' dtype; the bicubic skip stays fp32."""
    for layer in gm.modules():
        if isinstance(layer, (FusedConv, BicubicSkip)):
            continue
        for name, param in list(layer.named_parameters(recurse=False)):
            setattr(layer, name, nn.Parameter(param.detach().to(dtype), requires_grad=False))


def shuffle_phases(phases: torch.Tensor, scale: int) -> torch.Tensor:
    """(N, s*s, H, W) → (N, sH, sW): the pixel shuffle, on any dtype and memory layout."""
    n, _, height, width = phases.shape
    grid = phases.permute(0, 2, 3, 1).reshape(n, height, width, scale, scale)
    return grid.permute(0, 1, 3, 2, 4).reshape(n, height * scale, width * scale)


__all__ = ["CpuGraph", "FusedConv", "build_cpu_graph", "cpu_graph", "receptive_radius", "shuffle_phases"]
