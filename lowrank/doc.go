// Package lowrank provides factorized (low-rank) layers that train their factors directly.
//
// A dense weight W of shape out×in is replaced by U (out×r) and V (r×in), so that the layer
// computes y = U(Vx) with r(out+in) parameters and multiply-adds instead of out·in. The rank r
// comes from a Rank rule:
//
//   - RatioRule (the reference's): r = floor(ratio · min(m, n)) for the layer's m×n matrix form;
//   - FixedRank: r given explicitly;
//   - BudgetRule: keep a fraction b of the dense parameters, r = floor(b · m·n / (m+n)).
//
// A rank below 1 or above min(m, n) is an error that names the layer.
//
// # Layers
//
// Linear runs x → V → U as two linear maps, with the parameter names of the reference
// implementation's FactorizedLinear ("linear.0.weight" is V, "linear.1.weight" is U, each with
// its own bias), so checkpoints move between the two.
//
// Conv2d factorizes a k×k convolution (out, in, k, k) in one of two schemes:
//
//   - Spatial (the reference, Khodak et al.): a 1×k conv from in to r channels, then a k×1 conv
//     from r to out. Its matrix form is (out·k)×(in·k): W[o,i,a,b] = Σ_r U[o,r,a]·V[r,i,b].
//     The reference's rank rule gives r = floor(ratio · min(out·k, in·k)).
//   - Channel (Pufferfish, Cuttlefish): a k×k conv from in to r channels, then a 1×1 conv from r
//     to out. Its matrix form is out×(in·k·k): W[o,i,:,:] = Σ_r U[o,r]·V[r,i,:,:].
//
// Stride, padding and dilation apply along the axis each factor convolves, so the composition
// equals the dense convolution with the merged weight.
//
// LSTM factorizes the input-to-hidden (4h×in) and hidden-to-hidden (4h×h) gate matrices. Its
// Reconstructed implementation forms W = U·V once per call and runs libtorch's fused LSTM, so
// gradients stay low-rank while the recurrence runs at the built-in speed; Factored runs the
// per-step factored products, fewer FLOPs when r is small. The reference sets r = 4h·ratio
// for both matrices (LSTMRankReference), which makes its "low-rank" LSTM larger than the dense
// one; LSTMRankMin uses floor(ratio · min(4h, n)) and really reduces parameters.
//
// # Conversions, regularizers, costs
//
// Decompose builds factors from a dense weight by truncated SVD (U·√S and √S·Vᵀ, the best
// rank-r approximation); Merge multiplies them back, exactly, for every scheme and kernel size.
// Regularizer sums Frobenius decay ‖UV‖²_F (computed as ⟨UᵀU, VVᵀ⟩ in O((m+n)r²)), Kronecker
// decay ‖U‖²_F‖V‖²_F and L2 on the factors over a model's factorized layers. Cost counts
// parameters and forward FLOPs (one multiply-add is one FLOP, as fvcore) for dense and
// factorized layers alike.
//
// Tensors returned by Forward, Merge and the regularizers belong to the caller, who drops them.
package lowrank
