// LIF and GLIF1: one step of one neuron in one trial.
// CPU twin: `update_neuron` in src/cpu/mod.rs with `adaptive = false`; the numbered steps are those
// of MODELS.md and of the CPU code. Every product that feeds a sum is one explicit fma().

fn update_neuron(n: u32, input: f32, lock: bool, freeze: bool, st: ptr<function, NeuronState>) -> bool {
    let v = (*st).v;
    let v_rest = param(SLOT_V_REST, n);
    // 1.–2. Refractory countdown and integration (common.wgsl).
    let it = integrate(n, input, v, (*st).r);
    let r_new = it.r_new;
    let free = it.free;
    let v_star = it.v_star;
    let v_int = select(v_star, v, lock && !free);
    // 3. Threshold.
    let thr = param(SLOT_THRESHOLD, n);
    // 4. Spike: free and V' ≥ Θ.
    let spike = free && v_int >= thr;
    // 5. Reset.
    if spike {
        (*st).r = param(SLOT_T_REF, n);
        (*st).v = param(SLOT_V_RESET, n);
    } else {
        (*st).r = r_new;
        (*st).v = v_int;
    }
    return spike;
}
