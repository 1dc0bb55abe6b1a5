"""Is the int8dq proxy transformer itself different between torch versions? Record every aten op of one int8dq
transformer call (the failing prompt's first step, inputs saved once) under each torch, then compare.

    python op_replay.py inputs OUT.pt              # under any torch: save the transformer's step-0 inputs
    python op_replay.py record INPUTS.pt OUT.pkl   # under each torch: every aten op's args and outputs
    python op_replay.py compare A.pkl B.pkl        # same ops? same outputs? B's torch replays A's non-in-place ops
"""
import pickle, sys, torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "proxy"))
import evaluate  # tools/proxy/evaluate.py
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

PLAIN = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format)


def keep(t):
    if type(t) in (torch.Tensor, torch.nn.Parameter):
        return t.detach().clone()
    return t if isinstance(t, PLAIN) else f"<{type(t).__name__}>"


class Record(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.log = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.log.append((str(func), tree_map(keep, args), tree_map(keep, kwargs or {}), tree_map(keep, out)))
        return out


def first_tensor(x):
    if isinstance(x, torch.Tensor):
        return x
    return next((t for t in x if isinstance(t, torch.Tensor)), None) if isinstance(x, (tuple, list)) else None


mode = sys.argv[1]
if mode == "inputs":
    from diffbench.spec import proxy_scenes as scenes
    pipe, saved = evaluate.load("int8dq", "cpu"), {}

    def grab(module, args, kwargs):
        saved.update(tree_map(keep, kwargs))
        raise KeyboardInterrupt  # one call is enough

    pipe.transformer.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        evaluate.generate(pipe, scenes.evaluation_prompts()[2:3], seed=2, batch=1)
    except KeyboardInterrupt:
        pass
    torch.save(saved, sys.argv[2])
elif mode == "record":
    pipe, rec = evaluate.load("int8dq", "cpu"), Record()
    with torch.no_grad(), rec:
        pipe.transformer(**torch.load(sys.argv[2], weights_only=False))
    pickle.dump((torch.__version__, rec.log), open(sys.argv[3], "wb"))
elif mode == "compare":
    (va, a), (vb, b) = (pickle.load(open(p, "rb")) for p in sys.argv[2:4])
    print(f"torch {va}: {len(a)} aten ops; torch {vb}: {len(b)} aten ops; "
          f"same op sequence: {[e[0] for e in a] == [e[0] for e in b]}")
    int_mm = sorted({str([(t.dtype, tuple(t.shape)) for t in e[1] if isinstance(t, torch.Tensor)])
                     for e in a if e[0] == "aten._int_mm.default"})
    print(f"aten._int_mm calls: {sum(e[0] == 'aten._int_mm.default' for e in a)}, operand dtypes/shapes: {int_mm}")
    outputs = [(first_tensor(x[3]), first_tensor(y[3])) for x, y in zip(a, b)]
    print("ops whose outputs differ between the two recordings:",
          sum(1 for p, q in outputs if p is not None and not torch.equal(p, q)))
    replayed = differ = 0
    for name, args, kwargs, out in a:
        op = name.split(".")
        if op[1].endswith("_") or first_tensor(out) is None:
            continue  # in-place ops were recorded after they ran: their inputs are gone
        func = getattr(getattr(getattr(torch.ops, op[0]), op[1]), op[2] if len(op) > 2 else "default")
        with torch.no_grad():
            new = first_tensor(func(*args, **kwargs))
        replayed += 1
        differ += not torch.equal(new, first_tensor(out))
    print(f"torch {torch.__version__} replaying torch {va}'s {replayed} out-of-place ops on its inputs: {differ} differ")
