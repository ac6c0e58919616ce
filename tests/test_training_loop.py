"""A tiny transformer block using the op, compiled with fullgraph=True, trains on CPU: the loss
on a fixed batch goes down."""
import torch

from nsa_ops import selection_attention


class SelectionBlock(torch.nn.Module):
    def __init__(self, dim=32, heads=4, kv_heads=2, block_size=16, num_selected=3):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.block_size, self.num_selected = block_size, num_selected
        self.norm1, self.norm2 = torch.nn.LayerNorm(dim), torch.nn.LayerNorm(dim)
        self.q = torch.nn.Linear(dim, heads * self.head_dim)
        self.kv = torch.nn.Linear(dim, 2 * kv_heads * self.head_dim)
        self.o = torch.nn.Linear(heads * self.head_dim, dim)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, 2 * dim), torch.nn.GELU(), torch.nn.Linear(2 * dim, dim))

    def forward(self, x, block_indices):
        B, T, _ = x.shape
        h = self.norm1(x)
        q = self.q(h).view(B, T, self.heads, self.head_dim)
        k, v = self.kv(h).view(B, T, 2, self.kv_heads, self.head_dim).unbind(2)
        a = selection_attention(q, k, v, block_indices, block_size=self.block_size)
        x = x + self.o(a.reshape(B, T, -1))
        return x + self.mlp(self.norm2(x))


def test_compiled_block_trains_and_loss_decreases():
    torch.manual_seed(0)
    B, T, dim = 2, 64, 32
    model = SelectionBlock(dim)
    head = torch.nn.Linear(dim, 8)
    x = torch.randn(B, T, dim)
    target = torch.randint(0, 8, (B, T))
    # Block 0, the token's own block, and one random earlier block.
    own = (torch.arange(T) // 16).view(1, T, 1)
    rand = (torch.rand(B, T, 2) * (own + 1)).long()
    block_indices = torch.stack([torch.zeros_like(rand[..., 0]), own.expand(B, T, 2)[..., 0], rand[..., 0]], -1)
    block_indices = block_indices[:, :, None, :].expand(B, T, 2, 3).contiguous()

    def loss_fn(x):
        return torch.nn.functional.cross_entropy(head(model(x, block_indices)).flatten(0, 1), target.flatten())

    step = torch.compile(loss_fn, fullgraph=True)
    opt = torch.optim.Adam(list(model.parameters()) + list(head.parameters()), lr=1e-2)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = step(x)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(l == l for l in losses), losses
    assert losses[-1] < 0.8 * losses[0], losses
