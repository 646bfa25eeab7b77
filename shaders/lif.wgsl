// LIF, GLIF1, ALIF and GLIF2: one step of one neuron in one trial, with K threshold
// components (K = 0 for LIF and GLIF1). CPU twin: `update_neuron` in src/cpu/mod.rs; the
// numbered steps are those of MODELS.md and of the CPU code. Every product that feeds a sum
// is one explicit fma().

fn update_neuron(n: u32, p: NeuronParams, input: f32, lock: bool, freeze: bool,
                 st: ptr<function, NeuronState>) -> bool {
    let v = (*st).v;
    // 1.–2. Refractory countdown and integration (common.wgsl).
    let it = integrate(p, input, v, (*st).r);
    let v_int = select(it.v_star, v, lock && !it.free);
    // 3. Threshold from θ before this step's update: (θ_1 + … + θ_K) + Θ_∞.
    let thr = threshold_sum(p, st);
    // 4.–5. Spike and reset.
    let spike = spike_and_reset(p, it.free, v_int, it.r_new, thr, st);
    // 6. Adaptation: held while the lock is on and r > 0, else decayed; then + d_k·s.
    if !freeze {
        adapt_thresholds(n, spike, lock && (*st).r > 0.0, st);
    }
    return spike;
}
