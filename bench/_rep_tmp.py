import torch
from nsa_ops import bench as B
dev = torch.device("cuda"); l2 = torch.cuda.get_device_properties(dev).L2_cache_size
timer = B.make_timer(dev, quick=False)
cases = {c.name: c for c in B.cuda_cases()}
for name, dist in (("fwd G16 T=16k", "random"), ("fwd G16 T=16k", "local"), ("fwd G16 T=16k", "random")):
    case = cases[name]; copies = B.input_copies(case, dist, torch.bfloat16, dev, l2); fn = B._nsa_ops(case)
    print(name, dist, [round(timer(B.cycling([B._runner(fn, case.kind, c) for c in copies])), 3) for _ in range(5)], flush=True)
