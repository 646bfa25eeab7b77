// LIF and GLIF1: one step of one neuron in one trial.
// CPU twin: `update_neuron` in src/cpu.rs with `adaptive = false`; the numbered steps are those
// of MODELS.md and of the CPU code. Every product that feeds a sum is one explicit fma().

fn update_neuron(n: u32, input: f32, lock: bool, freeze: bool, st: ptr<function, NeuronState>) -> bool {
    let v = (*st).v;
    let r = (*st).r;
    let v_rest = param(SLOT_V_REST, n);
    let resistance = param(SLOT_RESISTANCE, n);
    // 1. Refractory countdown; the neuron is free when r reaches 0.
    let r_dec = r - info.dt;
    let r_new = select(0.0, r_dec, r_dec > 0.0);
    let free = r_new == 0.0;
    // 2. Integration, V* = ((((V − V_rest) − R·Ĩ)·e_m) + V_rest) + R·Ĩ.
    let i_eff = select(0.0, input, free);
    let a = v - v_rest;
    let b = fma(-resistance, i_eff, a);
    let c = fma(b, param(SLOT_DECAY_M, n), v_rest);
    let v_star = fma(resistance, i_eff, c);
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
