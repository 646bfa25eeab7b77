// ALIF and GLIF2: one step of one neuron in one trial, with K threshold components.
// CPU twin: `update_neuron` in src/cpu/mod.rs with `adaptive = true` (`glif2` = the GLIF2 override);
// the numbered steps are those of MODELS.md and of the CPU code. Every product that feeds a sum
// is one explicit fma().

// true: GLIF2 voltage reset (V' − V_rest)·m_v + V_rest − b_v; false: ALIF, V ← V_reset.
override GLIF2: bool = false;

fn update_neuron(n: u32, input: f32, lock: bool, freeze: bool, st: ptr<function, NeuronState>) -> bool {
    let v = (*st).v;
    let v_rest = param(SLOT_V_REST, n);
    // 1.–2. Refractory countdown and integration (common.wgsl).
    let it = integrate(n, input, v, (*st).r);
    let r_new = it.r_new;
    let free = it.free;
    let v_star = it.v_star;
    let v_int = select(v_star, v, lock && !free);
    // 3. Threshold from θ before this step's update: (θ_1 + … + θ_K) + Θ_∞.
    var sum = (*st).th[0];
    for (var k = 1u; k < K; k++) {
        sum = sum + (*st).th[k];
    }
    let thr = sum + param(SLOT_THRESHOLD, n);
    // 4. Spike: free and V' ≥ Θ.
    let spike = free && v_int >= thr;
    // 5. Reset.
    if spike {
        (*st).r = param(SLOT_T_REF, n);
        if GLIF2 {
            (*st).v = fma(v_int - v_rest, param(SLOT_M_V, n), v_rest) - param(SLOT_B_V, n);
        } else {
            (*st).v = param(SLOT_V_RESET, n);
        }
    } else {
        (*st).r = r_new;
        (*st).v = v_int;
    }
    // 6. Adaptation: held while the lock is on and r > 0, else decayed; then + d_k·s.
    if !freeze {
        let hold = lock && (*st).r > 0.0;
        let s = select(0.0, 1.0, spike);
        for (var k = 0u; k < K; k++) {
            let ds = param(SLOT_DECAY_K + K + k, n) * s;
            // A spike first scales the component by r_k (1 by default: no change).
            var th = (*st).th[k];
            if spike {
                th = th * param(SLOT_DECAY_K + 2u * K + k, n);
            }
            if hold {
                (*st).th[k] = th + ds;
            } else {
                (*st).th[k] = fma(th, param(SLOT_DECAY_K + k, n), ds);
            }
        }
    }
    return spike;
}
