// GLIF3, GLIF4, GLIF5: one step of one neuron in one trial, with K threshold components
// (GLIF4, GLIF5), J after-spike currents and, for GLIF5, the voltage-dependent threshold θ_v,
// integrated exactly with coefficients computed on the host (src/propagator.rs).
// CPU twin: `update_neuron` in src/cpu/mod.rs; the numbered steps are the same. Every product that
// feeds a sum is one explicit fma().

// THETA_V and the slots of the after-spike currents and θ_v (`slot_asc_*`, `slot_thv`) are in
// common.wgsl, shared with wide.wgsl.

fn update_neuron(n: u32, p: NeuronParams, input: f32, lock: bool, freeze: bool,
                 st: ptr<function, NeuronState>) -> bool {
    let v = (*st).v;
    // 1.–2. Refractory countdown and integration (common.wgsl), then + c_j·I_j.
    let it = integrate(p, input, v, (*st).r);
    let r_new = it.r_new;
    let free = it.free;
    let a = it.a;
    let i_eff = it.i_eff;
    var v_star = it.v_star;
    for (var j = 0u; j < J; j++) {
        v_star = fma(param(slot_asc_gain(j), n), (*st).th[K + j], v_star);
    }
    let v_int = select(v_star, v, lock && !free);
    // 3. Threshold from the start of the step: ((θ_1 + … + θ_K) + Θ_∞) + θ_v.
    var thr = threshold_sum(p, st);
    if THETA_V {
        thr = thr + (*st).th[K + J];
    }
    // 4.–5. Spike and reset.
    let spike = spike_and_reset(p, free, v_int, r_new, thr, st);
    // 6. Adaptation: held while the lock is on and r > 0, else decayed; then + d_k·s.
    let hold = lock && (*st).r > 0.0;
    if !freeze {
        adapt_thresholds(n, spike, hold, st);
    }
    // 7. θ_v (GLIF5), integrated exactly from the start-of-step u, w = R·Ĩ and I_j; held like θ.
    if THETA_V && !freeze && !hold {
        let w = p.resistance * i_eff;
        var acc = (*st).th[K + J] * param(slot_thv(0u), n);
        acc = fma(a, param(slot_thv(1u), n), acc);
        acc = fma(w, param(slot_thv(2u), n), acc);
        for (var j = 0u; j < J; j++) {
            acc = fma(param(slot_thv(3u + j), n), (*st).th[K + j], acc);
        }
        (*st).th[K + J] = acc;
    }
    // 8. After-spike currents: held while the lock is on and r > 0, else decayed; on a spike
    //    I_j ← f_j·I_j + δI_j.
    for (var j = 0u; j < J; j++) {
        var held = (*st).th[K + j];
        if !hold {
            held = held * param(slot_asc_decay(j), n);
        }
        if spike {
            held = fma(param(slot_asc_keep(j), n), held, param(slot_asc_amp(j), n));
        }
        (*st).th[K + j] = held;
    }
    return spike;
}
