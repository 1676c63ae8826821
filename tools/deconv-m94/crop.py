import sys, numpy as np
sys.path.insert(0,__import__('os').path.dirname(__file__))
from fits import read
from PIL import Image
x0,y0,R=int(sys.argv[3]),int(sys.argv[4]),int(sys.argv[5])
out=sys.argv[6]
ims=[read(p)[0] for p in sys.argv[1:3]]
tiles=[]
for a in ims:
    c=a[:,y0-R:y0+R+1,x0-R:x0+R+1]
    lo,hi=-40,3000
    v=np.clip((c-lo)/(hi-lo),0,1); v=np.arcsinh(v*50)/np.arcsinh(50)
    rgb=(np.transpose(v,(1,2,0))*255).astype(np.uint8)
    tiles.append(rgb)
img=np.concatenate([tiles[0],np.zeros((2*R+1,3,3),np.uint8)+255,tiles[1]],axis=1)
Image.fromarray(img).resize((img.shape[1]*6,img.shape[0]*6),Image.NEAREST).save(out)
for name,a in zip(("mean","deconv"),ims):
    print(name)
    for ch in range(3):
        print(" channel",ch)
        for y in range(y0-4,y0+5):
            print("  ", " ".join("%7.0f"%a[ch,y,x] for x in range(x0-6,x0+7)))
