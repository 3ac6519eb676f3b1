/**
 * The little dense linear algebra the metrics need (NIQE's pseudo-inverse), on row-major Float64Arrays. No
 * dependency: the matrices are tiny (36x36), so the cyclic Jacobi method is exact enough and takes well under 1 ms.
 */

/** Eigen-decomposition of a symmetric matrix: `a = V diag(values) V^T`, eigenvectors in the columns of `vectors`. */
export interface SymmetricEigen {
  readonly values: Float64Array;
  /** n x n, row-major; column k is the eigenvector of `values[k]`. */
  readonly vectors: Float64Array;
}

/** Sweeps of the cyclic Jacobi method before giving up; it converges quadratically, in under 10 sweeps at n = 36. */
const MAX_SWEEPS = 64;

/**
 * Eigenvalues and eigenvectors of a real symmetric `n` x `n` matrix by the cyclic Jacobi method (rotations zeroing
 * each off-diagonal element in turn until the off-diagonal mass is negligible). Only the upper triangle is trusted
 * to be the matrix; the input is not modified.
 *
 * @throws RangeError when the matrix is not `n` x `n` or holds a non-finite value.
 */
export function symmetricEigen(a: ArrayLike<number>, n: number): SymmetricEigen {
  if (!Number.isInteger(n) || n < 1 || a.length !== n * n) {
    throw new RangeError(`Expected an n x n matrix with n a positive integer, got ${a.length} values for n = ${String(n)}`);
  }
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = a[i * n + j] as number;
      if (!Number.isFinite(v)) throw new RangeError(`Expected a finite matrix, got ${v} at (${i}, ${j})`);
      m[i * n + j] = v;
      m[j * n + i] = v;
    }
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;

  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let off = 0;
    let diagonal = 0;
    for (let i = 0; i < n; i++) {
      diagonal += (m[i * n + i] as number) ** 2;
      for (let j = i + 1; j < n; j++) off += (m[i * n + j] as number) ** 2;
    }
    if (off <= 1e-30 * diagonal || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q] as number;
        if (apq === 0) continue;
        const app = m[p * n + p] as number;
        const aqq = m[q * n + q] as number;
        // The rotation angle that zeroes m[p][q]: t = tan(theta), the smaller root, for stability.
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p] as number;
          const mkq = m[k * n + q] as number;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k] as number;
          const mqk = m[q * n + k] as number;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        m[p * n + q] = 0;
        m[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p] as number;
          const vkq = v[k * n + q] as number;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i] as number;
  return { values, vectors: v };
}

/**
 * Moore-Penrose pseudo-inverse of a real symmetric matrix, `V diag(1 / lambda) V^T` over the eigenvalues with
 * `|lambda| > rcond * max |lambda|` (the others count as zero), the same cut-off rule as numpy's `pinv`, whose
 * singular values are the absolute eigenvalues here.
 *
 * @param a - `n` x `n` symmetric matrix, row-major.
 * @param rcond - Relative cut-off for small eigenvalues. @default 1e-15 (numpy's)
 * @throws RangeError when the matrix is not `n` x `n` or holds a non-finite value.
 * @example
 * const inverse = pinvSymmetric([2, 0, 0, 4], 2); // [0.5, 0, 0, 0.25]
 */
export function pinvSymmetric(a: ArrayLike<number>, n: number, rcond = 1e-15): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const largest = values.reduce((max, x) => Math.max(max, Math.abs(x)), 0);
  const inverse = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const lambda = values[k] as number;
    if (!(Math.abs(lambda) > rcond * largest)) continue;
    const r = 1 / lambda;
    for (let i = 0; i < n; i++) {
      const vik = (vectors[i * n + k] as number) * r;
      if (vik === 0) continue;
      for (let j = 0; j < n; j++) inverse[i * n + j] = (inverse[i * n + j] as number) + vik * (vectors[j * n + k] as number);
    }
  }
  return inverse;
}
