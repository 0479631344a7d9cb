# desc: a hook registered while the stream is being cancelled is run twice (by the canceller and by onCancel's re-check)
replace DefaultStream.java '      if (HOOKS.compareAndSet(this, head, new HookNode(hook, head))) {
        return;
      }' '      if (HOOKS.compareAndSet(this, head, new HookNode(hook, head))) {
        if (hooks == FIRED) {
          runHook(hook);
        }
        return;
      }'
