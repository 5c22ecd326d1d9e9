// Package brownian gives revode's SDE solvers a Brownian motion that can be
// asked again: any increment W(u) − W(s), in any order, as often as the
// reverse sweep of a reversible solver needs it, the same to the bit each
// time, from a seed and O(1) memory in the number of queries.
//
// Tree is a virtual Brownian tree (Gaines and Lyons 1997; Li, Wong, Chen and
// Duvenaud, "Scalable Gradients for Stochastic Differential Equations",
// AISTATS 2020; Kidger, Foster, Li and Lyons, "Efficient and Accurate
// Gradients for Neural SDEs", NeurIPS 2021). Over [t0, t1] it holds n
// independent Brownian components (a batch of B rows of dimension d is
// n = B·d components, row-major). W(t0) = 0 and W(t1) is drawn from the
// seed; every dyadic midpoint of the span, down to a resolution the caller
// chooses, is drawn from the Brownian bridge between its parent interval's
// endpoints, with a random stream seeded from a hash of (seed, node). No
// sample is stored: a node's value is recomputed on demand by walking down
// from the root, so a query costs O(log2((t1 − t0)/tol)) levels. Between the
// leaves (intervals no wider than tol) the path is linear, which keeps it
// continuous and its increments exactly additive; docs/brownian.md gives
// the exact covariance of the resulting process and the bounds it implies.
//
// Motion is the interface an SDE solver needs (Increment, Dim, Span); Tree
// implements it. AreaMotion adds the space-time Lévy area H over an
// interval, which higher-order schemes for additive noise need; AreaTree
// implements it by carrying each node's (W, H) pair down the tree. Tree caches the last root-to-leaf path and the last two
// points it evaluated, because a solver's queries are local in time; the
// cache changes the cost of a query, never its answer.
//
// Errors are values: bad construction input is an error from New; queries
// outside the span are an error from CheckedIncrement, and are clamped to
// the span, as documented, by Increment.
//
// Trees draw their normals with a ziggurat (Marsaglia and Tsang 2000) on
// math/rand/v2's PCG, reseeded per node; the draws dominate a query's
// cost. docs/brownian.md gives the construction, its guarantees, the
// tests and the measured costs.
package brownian
