;; The clean-point signal's block entropy (change-signal.ts, sampledBlockEntropy) in WebAssembly:
;; the same operations in the same order, so the same result to the bit. Loaded by
;; block-entropy.ts, which embeds this module's binary (wat2wasm output, checked by
;; test/unit/block-entropy.test.ts).
;;
;; Memory, two 64 KiB pages, never grown (growing would detach the JS views of it):
;;   [0, 512)          counts: u16 per byte value, zero between calls
;;   [1024, 1024+8·513) the step table: f64 (c+1)·log2(c+1) − c·log2(c) for c = 0…512 (set by JS)
;;   [65536, 131072)    the window: 16 blocks of 4 KiB copied in by JS
(module
  (memory (export "memory") 2 2)
  ;; Bits per byte of the block at $at, from 8 runs of 64 bytes, one every 512 bytes.
  (func (export "entropy") (param $at i32) (result f64)
    (local $sum f64) (local $run i32) (local $p i32) (local $end i32) (local $b i32) (local $c i32)
    (loop $runs
      (local.set $p (i32.add (local.get $at) (i32.shl (local.get $run) (i32.const 9))))
      (local.set $end (i32.add (local.get $p) (i32.const 64)))
      (loop $bytes
        (local.set $b (i32.shl (i32.load8_u (local.get $p)) (i32.const 1)))
        (local.set $c (i32.load16_u (local.get $b)))
        (local.set $sum
          (f64.add (local.get $sum)
            (f64.load offset=1024 (i32.shl (local.get $c) (i32.const 3)))))
        (i32.store16 (local.get $b) (i32.add (local.get $c) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br_if $bytes (i32.lt_u (local.get $p) (local.get $end))))
      (local.set $run (i32.add (local.get $run) (i32.const 1)))
      (br_if $runs (i32.lt_u (local.get $run) (i32.const 8))))
    ;; Counts back to zero for the next block.
    (local.set $p (i32.const 0))
    (loop $clear
      (i64.store (local.get $p) (i64.const 0))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $clear (i32.lt_u (local.get $p) (i32.const 512))))
    ;; log2(512) − Σ c·log2(c) / 512, as in JS.
    (f64.sub (f64.const 9) (f64.div (local.get $sum) (f64.const 512)))))
