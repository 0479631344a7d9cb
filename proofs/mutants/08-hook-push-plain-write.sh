# desc: onCancel pushes its hook with a plain write instead of a CAS (a hook lost, or pushed after firing)
replace DefaultStream.java '      if (HOOKS.compareAndSet(this, head, new HookNode(hook, head))) {' '      hooks = new HookNode(hook, head);
      if (true) {'
