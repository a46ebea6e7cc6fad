"""PT2E annotation shared by the quantizers built on PT2E (litert-torch's, ExecuTorch's XNNPACKQuantizer)."""
from __future__ import annotations


def annotate_conv_clamp(node, act_in, weight, bias, act_out) -> bool:
    """Annotate conv -> ReLU6 (``aten.hardtanh``) at ``node`` as one fused unit, as the quantizers
    already do for conv -> ReLU: only the clamp's output is observed (the converters fuse the
    clamp into the conv). Returns whether ``node`` was such a clamp, not yet annotated."""
    import torch

    aten = torch.ops.aten
    conv = node.args[0] if node.op == "call_function" and node.args else None
    if not (node.target in (aten.hardtanh.default, aten.hardtanh_.default) and isinstance(conv, torch.fx.Node)
            and conv.target in (aten.conv1d.default, aten.conv2d.default, aten.convolution.default)
            and len(conv.users) == 1 and not any("quantization_annotation" in n.meta for n in (node, conv))):
        return False
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation

    qmap = {conv.args[0]: act_in, conv.args[1]: weight}
    if len(conv.args) > 2 and isinstance(conv.args[2], torch.fx.Node):
        qmap[conv.args[2]] = bias
    conv.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map=qmap, _annotated=True)
    node.meta["quantization_annotation"] = QuantizationAnnotation(output_qspec=act_out, _annotated=True)
    return True
