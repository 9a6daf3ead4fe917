"""PyTorch counterpart of bench_nn: the reference net on random 28x28x1
data, or the demo net (pipeline.ini's) on 64x64x2, 2 threads.
Usage: bench_torch.py train|infer SECONDS [ref|demo]; prints img/s."""
import sys
import time

import torch
from torch import nn

BATCH = {"train": 64, "infer": 256}


def reference_net():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def demo_net():
    return nn.Sequential(
        nn.Conv2d(2, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 2))


def main():
    mode, seconds = sys.argv[1], float(sys.argv[2])
    torch.set_num_threads(2)
    torch.manual_seed(1)
    demo = len(sys.argv) > 3 and sys.argv[3] == "demo"
    batch = BATCH[mode]
    net = demo_net() if demo else reference_net()
    shape, classes = ((2, 64, 64), 2) if demo else ((1, 28, 28), 10)
    xs = [torch.rand(batch, *shape) for _ in range(8)]
    ys = [torch.randint(0, classes, (batch,)) for _ in range(8)]
    if mode == "train":
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def step(i):
            opt.zero_grad()
            loss = loss_fn(net(xs[i % 8]), ys[i % 8])
            loss.backward()
            opt.step()
    else:
        net.eval()

        def step(i):
            with torch.inference_mode():
                net(xs[i % 8])
    for i in range(5):
        step(i)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(n)
        n += 1
    print("%.1f" % (n * batch / (time.perf_counter() - start)))


if __name__ == "__main__":
    main()
